package fds

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Helpers(m, map[string]func([]string) error{"hold": hold}) }

// hold, a helper, sets its soft RLIMIT_NOFILE to LIMIT, opens N files, one
// every PERIOD (all at once for 0), prints "ready" and holds them until
// stdin ends.
func hold(args []string) error {
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	limit, err := strconv.ParseUint(args[1], 10, 64)
	if err != nil {
		return err
	}
	period, err := time.ParseDuration(args[2])
	if err != nil {
		return err
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	rl.Cur = limit
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	for range n {
		// Raw fds: nothing closes them until the process exits.
		if _, err := syscall.Open("/dev/null", syscall.O_RDONLY, 0); err != nil {
			return err
		}
		time.Sleep(period)
	}
	fmt.Println("ready")
	_, err = io.Copy(io.Discard, os.Stdin)
	return err
}

// holder is a helper process holding files open.
type holder struct{ *testutil.Piped }

// holdFiles starts a helper in the cgroup that opens n files, one every
// period, under a soft fd limit, and returns once it has opened them all
// when wait is set.
func holdFiles(t *testing.T, cg *testutil.Cgroup, n int, limit uint64, period time.Duration, wait bool) *holder {
	t.Helper()
	h := &holder{testutil.StartPiped(t, cg.Helper(t, "hold", strconv.Itoa(n), strconv.FormatUint(limit, 10), period.String()))}
	if wait {
		h.Expect(t, "ready")
	}
	return h
}

// openFDs counts the helper's open fds as procfs lists them.
func (h *holder) openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", h.Cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
