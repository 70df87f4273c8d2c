// Package testutil helps tests cause kernel events they can count exactly:
// it makes throwaway cgroups and runs processes inside them.
package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/cgroup"
)

// RequireRoot skips a test that needs root (BPF, cgroups). CI runs as root,
// so there these tests always run.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// Cgroup is a cgroup2 directory made for one test and removed after it.
type Cgroup struct {
	Dir  string // absolute
	Path string // relative to the cgroup2 mount, as in the cgroup label
	ID   uint64
}

// NewCgroup makes a fresh cgroup2 directory named after the test.
func NewCgroup(t testing.TB) *Cgroup {
	t.Helper()
	root, err := cgroup.FindMount()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("orb8-test-%s-%d-%d", sanitize(t.Name()), os.Getpid(), time.Now().UnixNano()%1e9)
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("make test cgroup: %v", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	cg := &Cgroup{Dir: dir, Path: "/" + name, ID: st.Ino}
	t.Cleanup(func() { cg.remove(t) })
	return cg
}

// Child makes the cgroup at rel below cg, with every directory on the way,
// for tests of path layouts; each is removed after the test, innermost first.
func (cg *Cgroup) Child(t testing.TB, rel string) *Cgroup {
	t.Helper()
	child := cg
	for _, seg := range strings.Split(strings.Trim(rel, "/"), "/") {
		dir := filepath.Join(child.Dir, seg)
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			t.Fatalf("make test cgroup: %v", err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(dir, &st); err != nil {
			t.Fatal(err)
		}
		child = &Cgroup{Dir: dir, Path: child.Path + "/" + seg, ID: st.Ino}
		c := child
		t.Cleanup(func() { c.remove(t) })
	}
	return child
}

func (cg *Cgroup) remove(t testing.TB) {
	// Kill what is left, then wait for the directory to empty.
	_ = os.WriteFile(filepath.Join(cg.Dir, "cgroup.kill"), []byte("1"), 0)
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := os.Remove(cg.Dir)
		if err == nil || os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Logf("remove test cgroup %s: %v", cg.Dir, err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Command returns a command that starts inside the cgroup (clone3 with
// CLONE_INTO_CGROUP), so even its exec is counted there.
func (cg *Cgroup) Command(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	fd, err := syscall.Open(cg.Dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	return cmd
}

// Run runs a command inside the cgroup and fails the test if it cannot start.
// The exit status is returned, not judged.
func (cg *Cgroup) Run(t testing.TB, name string, args ...string) error {
	t.Helper()
	cmd := cg.Command(t, name, args...)
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run %s in %s: %v", name, cg.Path, err)
	}
	return err
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// Eventually polls cond every 20 ms until it holds or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(format, args...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Hide is a cgroup.Enricher that marks the workloads of these cgroup paths
// Hidden, as the agent's namespace and selector filters mark excluded pods.
type Hide []string

// Enrich implements cgroup.Enricher.
func (h Hide) Enrich(w cgroup.Workload) cgroup.Workload {
	if slices.Contains(h, w.Path) {
		w.Hidden = true
	}
	return w
}

// Socket returns a unix:/// address for a test's API socket, in a fresh
// directory removed after the test (short: a socket path has at most 107
// bytes, and test names are long).
func Socket(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "orb8")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return "unix://" + filepath.Join(dir, "api.sock")
}
