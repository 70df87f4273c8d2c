package process

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.Helpers(m, map[string]func([]string) error{"end-thread": endThread})
}

// endThread, a helper, ends one of its threads, says "ready", and exits
// when its stdin closes.
func endThread([]string) error {
	runtime.LockOSThread() // keeps the goroutine below off the main thread, which never ends
	done := make(chan struct{})
	// A goroutine that returns locked to its thread takes the thread with it.
	go func() { runtime.LockOSThread(); close(done) }()
	<-done
	time.Sleep(100 * time.Millisecond)
	fmt.Println("ready")
	_, err := io.Copy(io.Discard, os.Stdin)
	return err
}

type fixture struct {
	probe *Probe
	reg   *prometheus.Registry
	bus   *events.Bus
}

func start(t testing.TB) *fixture {
	t.Helper()
	return startWith(t, New())
}

func startWith(t testing.TB, p *Probe) *fixture {
	t.Helper()
	testutil.RequireRoot(t)
	res := testutil.Resolver(t)
	f := &fixture{probe: p, reg: prometheus.NewPedanticRegistry(), bus: events.NewBus()}
	env := probe.Env{Resolver: res, Events: f.bus, Log: slog.Default(), CgroupRoot: res.Root()}
	if err := f.probe.Start(context.Background(), env); err != nil {
		t.Fatalf("start process probe: %v", err)
	}
	t.Cleanup(func() { f.probe.Close() })
	f.reg.MustRegister(testutil.Collector(t, f.probe))
	return f
}

func (f *fixture) value(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	v, _ := testutil.Sample(t, f.reg, name, labels)
	return v
}

// lost is the probe's in-kernel ring buffer loss count.
func (f *fixture) lost(t testing.TB) uint64 {
	t.Helper()
	c, err := f.probe.Objects().Counters()
	if err != nil {
		t.Fatal(err)
	}
	return c.RingbufLost
}

// waitFor polls until metric name{labels} equals want.
func (f *fixture) waitFor(t *testing.T, name string, labels map[string]string, want float64) {
	t.Helper()
	testutil.Eventually(t, 3*time.Second, func() bool { return f.value(t, name, labels) == want },
		"%s%v = %v, want %v; series: %s", name, labels, f.value(t, name, labels), want, testutil.Series(t, f.reg, name))
}

func TestExecAndExitCountsPerCgroup(t *testing.T) {
	f := start(t)
	cg := testutil.NewCgroup(t)
	sub := f.bus.Subscribe(1024, nil, func(e *events.Event) bool { return e.Workload.Path == cg.Path })
	defer f.bus.Unsubscribe(sub)

	const trues, falses, killed = 40, 3, 2
	for range trues {
		cg.Run(t, "/bin/true")
	}
	for range falses {
		cg.Run(t, "/bin/false")
	}
	for range killed {
		cmd := cg.Command(t, "/bin/sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // let exec happen before the kill
		cmd.Process.Kill()
		cmd.Wait()
	}

	// A crash: the shell faults itself with SIGSEGV.
	cg.Run(t, "/bin/sh", "-c", "kill -SEGV $$")

	in := map[string]string{"cgroup": cg.Path}
	f.waitFor(t, "orb8_process_exec_total", in, trues+falses+killed+1)
	f.waitFor(t, "orb8_process_fork_total", in, trues+falses+killed+1)
	f.waitFor(t, "orb8_process_exit_total", map[string]string{"cgroup": cg.Path, "reason": "exit"}, trues+falses)
	f.waitFor(t, "orb8_process_exit_total", map[string]string{"cgroup": cg.Path, "reason": "signal"}, killed+1)
	f.waitFor(t, "orb8_process_crashes_total", in, 1)
	f.waitFor(t, "orb8_process_short_lived_total", in, trues+falses+killed+1)
	f.waitFor(t, "orb8_process_running", in, 0)
	for _, l := range []string{"namespace", "pod", "container"} {
		if _, ok := testutil.Sample(t, f.reg, "orb8_process_exec_total", map[string]string{"cgroup": cg.Path, l: ""}); !ok {
			t.Errorf("label %s missing or not empty outside Kubernetes", l)
		}
	}

	// The same execs and exits arrive one by one as events.
	var execs, exitCode1, signal9, crashes int
	deadline := time.After(2 * time.Second)
	for execs < trues+falses+killed+1 || exitCode1 < falses || signal9 < killed || crashes < 1 {
		select {
		case e := <-sub.C:
			switch {
			case e.Kind == events.KindExec:
				execs++
			case e.Kind == events.KindExit && e.Exit.Reason == "exit" && e.Exit.Code == 1:
				exitCode1++
			case e.Kind == events.KindExit && e.Exit.Reason == "signal" && e.Exit.Signal == 9 && !e.Exit.Crash:
				signal9++
			case e.Kind == events.KindExit && e.Exit.Signal == 11 && e.Exit.Crash:
				crashes++
			}
			if e.Kind == events.KindExit && (e.Exit.Lifetime <= 0 || e.Exit.Lifetime > 5*time.Second) {
				t.Errorf("exit event lifetime %v for a process of this test", e.Exit.Lifetime)
			}
		case <-deadline:
			t.Fatalf("events: %d execs, %d exit(1), %d SIGKILL, %d crashes; want %d, %d, %d, 1", execs, exitCode1, signal9, crashes, trues+falses+killed+1, falses, killed)
		}
	}
	if execs != trues+falses+killed+1 {
		t.Fatalf("exec events = %d, want %d", execs, trues+falses+killed+1)
	}
}

func TestRunningFollowsSeedingAndMoves(t *testing.T) {
	testutil.RequireRoot(t)
	a := testutil.NewCgroup(t)
	// Two processes that exist before the probe starts are found by seeding.
	var cmds []*os.Process
	for range 2 {
		cmd := a.Command(t, "/bin/sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd.Process)
		go cmd.Wait()
	}
	f := start(t)
	f.waitFor(t, "orb8_process_running", map[string]string{"cgroup": a.Path}, 2)

	// Moving one to another cgroup moves its count.
	b := testutil.NewCgroup(t)
	if err := os.WriteFile(filepath.Join(b.Dir, "cgroup.procs"), []byte(strconv.Itoa(cmds[0].Pid)), 0); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, "orb8_process_running", map[string]string{"cgroup": a.Path}, 1)
	f.waitFor(t, "orb8_process_running", map[string]string{"cgroup": b.Path}, 1)

	for _, p := range cmds {
		p.Kill()
	}
	f.waitFor(t, "orb8_process_running", map[string]string{"cgroup": a.Path}, 0)
	f.waitFor(t, "orb8_process_running", map[string]string{"cgroup": b.Path}, 0)
	f.waitFor(t, "orb8_process_exit_total", map[string]string{"cgroup": b.Path, "reason": "signal"}, 1)
}

func TestForgetDropsKernelState(t *testing.T) {
	f := start(t)
	cg := testutil.NewCgroup(t)
	cg.Run(t, "/bin/true")
	in := map[string]string{"cgroup": cg.Path}
	f.waitFor(t, "orb8_process_exec_total", in, 1)
	if err := f.probe.Objects().Forget([]uint64{cg.ID}); err != nil {
		t.Fatal(err)
	}
	if _, ok := testutil.Sample(t, f.reg, "orb8_process_exec_total", in); ok {
		t.Fatalf("series of a forgotten cgroup still exported")
	}
}

func TestLongLivedIsNotShortLived(t *testing.T) {
	f := start(t)
	cg := testutil.NewCgroup(t)
	cg.Run(t, "/bin/sleep", "1.2")
	in := map[string]string{"cgroup": cg.Path}
	f.waitFor(t, "orb8_process_exit_total", map[string]string{"cgroup": cg.Path, "reason": "exit"}, 1)
	f.waitFor(t, "orb8_process_short_lived_total", in, 0)
	f.waitFor(t, "orb8_process_crashes_total", in, 0)
}

func TestThreadExitIsNotProcessExit(t *testing.T) {
	f := start(t)
	cg := testutil.NewCgroup(t)
	h := testutil.StartPiped(t, cg.Helper(t, "end-thread"))
	h.Expect(t, "ready")
	// The kernel counts an exit before the exiting thread is gone, and the
	// process's before its wait returns: no polling needed.
	in := map[string]string{"cgroup": cg.Path}
	exits := map[string]string{"cgroup": cg.Path, "reason": "exit"}
	if v, r := f.value(t, "orb8_process_exit_total", exits), f.value(t, "orb8_process_running", in); v != 0 || r != 1 {
		t.Errorf("after a thread ended: exits = %v, running = %v; want 0 and 1", v, r)
	}
	h.Stdin.Close()
	if err := h.Cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if v, r := f.value(t, "orb8_process_exit_total", exits), f.value(t, "orb8_process_running", in); v != 1 || r != 0 {
		t.Errorf("after the process ended: exits = %v, running = %v; want 1 and 0", v, r)
	}
}

// The kernel gate is per kind: with nothing watched no record enters the
// ring; with only exec events watched, only the exec bit is open, and the
// test's execs arrive exactly.
func TestKernelGateFollowsWatchedKinds(t *testing.T) {
	f := start(t)
	cg := testutil.NewCgroup(t)
	gate := func() uint32 {
		var on uint32
		if err := f.probe.bpf.Orb8Emit.Lookup(uint32(0), &on); err != nil {
			t.Fatal(err)
		}
		return on
	}
	const runs = 20
	before := f.probe.Objects().EventsRead()
	for range runs {
		cg.Run(t, "/bin/true")
	}
	time.Sleep(20 * time.Millisecond) // the reader's poll would pick up a straggler
	if n := f.probe.Objects().EventsRead() - before; n != 0 || gate() != 0 {
		t.Errorf("nobody watching: gate %#x, %d records in the ring", gate(), n)
	}

	sub := f.bus.Subscribe(1024, []string{events.KindExec}, func(e *events.Event) bool { return e.Workload.Path == cg.Path })
	defer f.bus.Unsubscribe(sub)
	if want := uint32(1) << processEventKindEVENT_EXEC; gate() != want {
		t.Errorf("exec watched: gate %#x, want %#x", gate(), want)
	}
	for range runs {
		cg.Run(t, "/bin/true")
	}
	got := 0
	testutil.Eventually(t, 3*time.Second, func() bool {
		for {
			select {
			case e := <-sub.C:
				if e.Kind != events.KindExec {
					t.Errorf("a %s event reached an exec-only subscriber", e.Kind)
				}
				got++
			default:
				return got == runs
			}
		}
	}, "exec events: %d, want %d", got, runs)

	all := f.bus.Subscribe(16, nil, nil)
	if want := uint32(1)<<processEventKindEVENT_EXEC | 1<<processEventKindEVENT_EXIT; gate() != want {
		t.Errorf("every kind watched: gate %#x, want %#x", gate(), want)
	}
	f.bus.Unsubscribe(all)
	f.bus.Unsubscribe(sub)
	if gate() != 0 {
		t.Errorf("nobody watching again: gate %#x", gate())
	}
}
