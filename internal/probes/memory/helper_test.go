package memory

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/testutil"
)

const pageSize = 4096

func TestMain(m *testing.M) {
	testutil.Helpers(m, map[string]func([]string) error{
		"grow":  func(args []string) error { return runHelper("grow", args) },
		"touch": func(args []string) error { return runHelper("touch", args) },
	})
}

// runHelper waits for a line on stdin (so the test can move it into a v1
// memory cgroup first), then:
//   - "grow" CHUNK_BYTES PERIOD: touches CHUNK_BYTES of fresh anonymous
//     memory per PERIOD until killed;
//   - "touch" PAGES WHERE: touches PAGES fresh pages, prints "done", waits
//     for EOF; WHERE "thread": on an OS thread of its own, ended before "done".
func runHelper(mode string, args []string) error {
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		return err
	}
	switch mode {
	case "grow":
		period, err := time.ParseDuration(args[1])
		if err != nil {
			return err
		}
		// Keep to the rate even when ticks come late on a busy machine.
		start := time.Now()
		grown := 0
		for range time.Tick(period) {
			due := int(time.Since(start)/period) * n
			if due <= grown {
				continue
			}
			if err := touchFresh((due - grown) / pageSize); err != nil {
				return err
			}
			grown = due
		}
	case "touch":
		touch := touchFresh
		if args[1] == "thread" {
			touch = touchOnEndedThread
		}
		if err := touch(n); err != nil {
			return err
		}
		fmt.Println("done")
		_, _ = io.Copy(io.Discard, in)
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// touchFresh maps pages of anonymous memory and writes to each: one page
// fault and one charged page per page (no huge pages).
func touchFresh(pages int) error {
	b, err := unix.Mmap(-1, 0, pages*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	if err := unix.Madvise(b, unix.MADV_NOHUGEPAGE); err != nil {
		return err
	}
	for i := 0; i < len(b); i += pageSize {
		b[i] = 1
	}
	return nil
}

// touchOnEndedThread touches pages fresh pages on an OS thread that ends
// before it returns: a goroutine that ends locked to its thread ends it.
func touchOnEndedThread(pages int) error {
	type result struct {
		tid int
		err error
	}
	// Keep this goroutine on its thread, so the other cannot run there: a
	// locked goroutine that ends on the main thread does not end it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	done := make(chan result)
	go func() {
		runtime.LockOSThread()
		done <- result{unix.Gettid(), touchFresh(pages)}
	}()
	r := <-done
	if r.err != nil {
		return r.err
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", r.tid)); os.IsNotExist(err) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("thread %d did not end", r.tid)
		}
	}
}

// helper is a helper process in a memory-limited test cgroup.
type helper struct{ *testutil.Piped }

// memCgroup is a test cgroup with a memory limit: on hybrid hosts the limit
// is set on the cgroup v1 memory cgroup of the same relative path, which the
// helper joins too.
type memCgroup struct {
	*testutil.Cgroup
	memDir string // where the limit is set
}

func newMemCgroup(t *testing.T, limit uint64) *memCgroup {
	t.Helper()
	cg := testutil.NewCgroup(t)
	files, err := findHierarchy(filepath.Dir(cg.Dir))
	if err != nil {
		t.Fatal(err)
	}
	mc := &memCgroup{Cgroup: cg, memDir: cg.Dir}
	if files.root != filepath.Dir(cg.Dir) {
		mc.memDir = filepath.Join(files.root, cg.Path)
		if err := os.Mkdir(mc.memDir, 0o755); err != nil {
			t.Fatalf("make v1 memory cgroup: %v", err)
		}
		t.Cleanup(func() { removeDir(t, mc.memDir) })
	}
	if err := os.WriteFile(filepath.Join(mc.memDir, files.limit), []byte(strconv.FormatUint(limit, 10)), 0); err != nil {
		t.Fatalf("set memory limit: %v", err)
	}
	return mc
}

func removeDir(t *testing.T, dir string) {
	testutil.Eventually(t, 5*time.Second, func() bool {
		err := os.Remove(dir)
		return err == nil || os.IsNotExist(err)
	}, "remove %s: still busy", dir)
}

// start starts a helper inside the cgroup (and its v1 memory cgroup), waiting
// for its go-ahead.
func (mc *memCgroup) start(t *testing.T, mode string, args ...string) *helper {
	t.Helper()
	h := &helper{testutil.StartPiped(t, mc.Helper(t, mode, args...))}
	if mc.memDir != mc.Dir {
		if err := os.WriteFile(filepath.Join(mc.memDir, "cgroup.procs"), []byte(strconv.Itoa(h.Cmd.Process.Pid)), 0); err != nil {
			t.Fatalf("join v1 memory cgroup: %v", err)
		}
	}
	return h
}

// goAhead lets the helper start allocating.
func (h *helper) goAhead(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(h.Stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
}
