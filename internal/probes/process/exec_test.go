package process

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/testutil"
)

// nextExec waits for the next exec event of sub.
func nextExec(t *testing.T, sub *events.Subscription) *events.Exec {
	t.Helper()
	deadline := time.After(2 * time.Second)
	for {
		select {
		case e := <-sub.C:
			if e.Kind == events.KindExec {
				return e.Exec
			}
		case <-deadline:
			t.Fatal("no exec event within 2s")
		}
	}
}

// TestExecEventsCarryArgsAndPaths: an exec event says what was run as the
// caller named it, the executable resolved (/bin is a link to /usr/bin on
// this distribution, or not, as EvalSymlinks finds), the parent's
// executable, and argv exactly, bounded in count and bytes.
func TestExecEventsCarryArgsAndPaths(t *testing.T) {
	f := start(t)
	cg := testutil.NewCgroup(t)
	sub := f.bus.Subscribe(64, nil, func(e *events.Event) bool { return e.Workload.Path == cg.Path })
	defer f.bus.Unsubscribe(sub)
	resolved, err := filepath.EvalSymlinks("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		t.Fatal(err)
	}

	args := []string{"a", "b c", "", "\x1b[31mred", "ünïcode"}
	cg.Run(t, "/bin/true", args...)
	x := nextExec(t, sub)
	want := &events.Exec{Filename: "/bin/true", Path: resolved, ParentPath: self, Args: append([]string{"/bin/true"}, args...)}
	checkExec(t, x, want)

	// 20 arguments: the first 16 of argv.
	many := make([]string, 20)
	for i := range many {
		many[i] = strings.Repeat("x", i)
	}
	cg.Run(t, "/bin/true", many...)
	want = &events.Exec{Filename: "/bin/true", Path: resolved, ParentPath: self,
		Args: append([]string{"/bin/true"}, many[:15]...), ArgsTruncated: true}
	checkExec(t, nextExec(t, sub), want)

	// 1,500 bytes of arguments: those in the first KiB, the last cut.
	long := []string{strings.Repeat("y", 600), strings.Repeat("z", 900)}
	cg.Run(t, "/bin/true", long...)
	cut := 1024 - len("/bin/true\x00") - len(long[0]) - 1
	want = &events.Exec{Filename: "/bin/true", Path: resolved, ParentPath: self,
		Args: []string{"/bin/true", long[0], long[1][:cut]}, ArgsTruncated: true}
	checkExec(t, nextExec(t, sub), want)
}

// TestExecPathIsTheProcesssOwn: a program run in a chroot (as in a
// container) is named by its path there, not the host's.
func TestExecPathIsTheProcesssOwn(t *testing.T) {
	f := start(t)
	cg := testutil.NewCgroup(t)
	sub := f.bus.Subscribe(64, nil, func(e *events.Event) bool { return e.Workload.Path == cg.Path })
	defer f.bus.Unsubscribe(sub)
	root := t.TempDir()
	if err := os.MkdirAll(root+"/usr/bin", 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "prog.c")
	if err := os.WriteFile(src, []byte("int main(void) { return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-static", "-o", root+"/usr/bin/prog", src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	cmd := cg.Command(t, "/usr/bin/prog", "arg")
	cmd.SysProcAttr.Chroot = root
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	want := &events.Exec{Filename: "/usr/bin/prog", Path: "/usr/bin/prog", Args: []string{"/usr/bin/prog", "arg"}}
	x := nextExec(t, sub)
	want.ParentPath = x.ParentPath // the test binary's, checked above
	checkExec(t, x, want)
	if x.ParentPath == "" {
		t.Error("no parent path")
	}
}

// TestExecWithoutBpfLoopHasNoPaths: where the kernel refuses handle_exec
// (no bpf_loop before 5.17), its fallback sends the same events with the
// arguments but no executables, and the probe says what it lost.
func TestExecWithoutBpfLoopHasNoPaths(t *testing.T) {
	p := New()
	p.tuneSpec = func(s *ebpf.CollectionSpec) { delete(s.Programs, processProgHandleExec) }
	f := startWith(t, p)
	cg := testutil.NewCgroup(t)
	sub := f.bus.Subscribe(64, nil, func(e *events.Event) bool { return e.Workload.Path == cg.Path })
	defer f.bus.Unsubscribe(sub)
	cg.Run(t, "/bin/true", "x")
	checkExec(t, nextExec(t, sub), &events.Exec{Filename: "/bin/true", Args: []string{"/bin/true", "x"}})
	if f.probe.Objects().Failed[processProgHandleExec] == nil {
		t.Errorf("handle_exec not reported as refused: %v", f.probe.Objects().Failed)
	}
	in := map[string]string{"cgroup": cg.Path}
	f.waitFor(t, "orb8_process_exec_total", in, 1)
}

func checkExec(t *testing.T, got, want *events.Exec) {
	t.Helper()
	if got.Filename != want.Filename || got.Path != want.Path || got.PathTruncated || got.ParentPath != want.ParentPath ||
		got.ParentPathTruncated || !slices.Equal(got.Args, want.Args) || got.ArgsTruncated != want.ArgsTruncated {
		t.Errorf("exec event\n got %#v\nwant %#v", *got, *want)
	}
}
