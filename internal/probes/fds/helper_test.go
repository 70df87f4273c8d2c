package fds

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

// helperEnv switches the test binary into a helper process (see TestMain).
const helperEnv = "ORB8_FDS_HELPER"

// TestMain lets tests re-execute the test binary as a helper process, so
// they depend on nothing outside Go.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		if err := runHelper(os.Args[len(os.Args)-3:]); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runHelper sets its soft RLIMIT_NOFILE to LIMIT, opens N files, one every
// PERIOD (all at once for 0), prints "ready" and holds them until stdin ends.
func runHelper(args []string) error {
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
type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// hold starts a helper in the cgroup that opens n files, one every period,
// under a soft fd limit, and returns once it has opened them all when wait is set.
func hold(t *testing.T, cg *testutil.Cgroup, n int, limit uint64, period time.Duration, wait bool) *holder {
	t.Helper()
	cmd := cg.Command(t, os.Args[0], "-test.run=^$", strconv.Itoa(n), strconv.FormatUint(limit, 10), period.String())
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &holder{cmd: cmd, stdin: stdin}
	t.Cleanup(func() {
		h.stdin.Close()
		h.cmd.Wait()
	})
	if wait {
		if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
			t.Fatalf("helper said %q, %v", line, err)
		}
	}
	return h
}

// openFDs counts the helper's open fds as procfs lists them.
func (h *holder) openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", h.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
