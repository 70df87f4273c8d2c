package sched

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/syscalls"
	"github.com/orb8/orb8/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Helpers(m, map[string]func([]string) error{"pong": pong}) }

// pong, a helper, is the echoing half of the ping-pong, pinned to the CPU
// CPU names: fd 3 ping in, fd 4 pong out; EOF ends it.
func pong(args []string) error {
	cpu, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	pin(cpu)
	buf := make([]byte, 1)
	for {
		if k, _ := unix.Read(3, buf); k <= 0 {
			return nil
		}
		unix.Write(4, buf)
	}
}

// pin binds the calling thread to one CPU.
func pin(cpu int) {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	unix.SchedSetaffinity(0, &set)
}

// pingPong is a child process echoing single bytes over two blocking pipes:
// every round trip is two wakeups, two switches and four syscalls.
type pingPong struct{ w, r, pid int }

func startPingPong(b *testing.B, cpu int) *pingPong {
	var ping, pong [2]int
	if err := unix.Pipe2(ping[:], unix.O_CLOEXEC); err != nil {
		b.Fatal(err)
	}
	if err := unix.Pipe2(pong[:], unix.O_CLOEXEC); err != nil {
		b.Fatal(err)
	}
	cmd := testutil.HelperCommand("pong", strconv.Itoa(cpu))
	cmd.ExtraFiles = []*os.File{os.NewFile(uintptr(ping[0]), "ping"), os.NewFile(uintptr(pong[1]), "pong")}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	unix.Close(ping[0])
	unix.Close(pong[1])
	b.Cleanup(func() { unix.Close(ping[1]); unix.Close(pong[0]); cmd.Wait() })
	return &pingPong{w: ping[1], r: pong[0], pid: cmd.Process.Pid}
}

// roundTrip returns the mean wall time and the mean CPU time (both
// processes) of n round trips. The caller's thread is locked.
func (p *pingPong) roundTrip(b *testing.B, n int) (wall, cpu time.Duration) {
	buf := []byte{1}
	cpu0 := testutil.ThreadCPUTime(b) + testutil.ProcessCPUTime(b, p.pid)
	t0 := time.Now()
	for range n {
		if _, err := unix.Write(p.w, buf); err != nil {
			b.Fatal(err)
		}
		if _, err := unix.Read(p.r, buf); err != nil {
			b.Fatal(err)
		}
	}
	wall = time.Since(t0)
	cpu = testutil.ThreadCPUTime(b) + testutil.ProcessCPUTime(b, p.pid) - cpu0
	return wall / time.Duration(n), cpu / time.Duration(n)
}

type probeSet struct {
	name      string
	syscalls  []string // nil: no syscalls probe
	sched     bool
	histogram bool // the sched probe with --sched-runqueue-histogram
	empty     bool // a program that returns at once on sched_switch: the floor of any per-switch hook
	noStats   bool // BPF run-time statistics off while it runs
}

// enableStats turns on BPF run-time statistics until the returned closer is closed.
func enableStats(b *testing.B) io.Closer {
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatal(err)
	}
	return stats
}

// BenchmarkPingPongProbeCost measures what the sched and syscalls probes add
// to a context-switch-heavy load. Each iteration is one round: every probe
// set in turn (rotated), loaded fresh, then 20k round trips (4k across CPUs) timed in wall
// time and in CPU time of both processes (which a busy machine disturbs
// less). Reported values are medians over rounds; ns/run-<program> is the
// in-kernel run time of each BPF program per call, us/flush-<set> the time
// of one pass of the sched probe's flush iterator (the agent runs one every
// 5 s) over the machine's threads. Run with -benchtime=Nx for N rounds:
// go test -run '^$' -bench PingPong -benchtime 9x ./internal/probes/sched/
func BenchmarkPingPongProbeCost(b *testing.B) {
	testutil.RequireRoot(b)
	// BPF run-time statistics are on for the ns/run figures, as with the
	// agent's --bpf-stats. The -nostats sets run with them off, as the agent
	// runs by default, which shows what they cost (two clock reads per
	// program run); that needs that nothing else on the machine keeps them
	// on. sched is the default sched probe: no program runs per switch.
	// empty-nostats is the floor of any per-switch hook: a program that does
	// nothing, so the tracepoint's dispatch alone.
	stats := enableStats(b)
	defer func() { stats.Close() }()
	hot := append(syscalls.DefaultOptions().Syscalls, "read", "write")
	sets := []probeSet{
		{name: "none"},
		{name: "sched", sched: true},
		{name: "histogram", sched: true, histogram: true},
		{name: "histogram-nostats", sched: true, histogram: true, noStats: true},
		{name: "empty-nostats", empty: true, noStats: true},
		{name: "sched+syscalls", sched: true, syscalls: syscalls.DefaultOptions().Syscalls},
		{name: "sched+syscalls-rw", sched: true, syscalls: hot},
	}
	for _, mode := range []struct {
		name          string
		parent, child int
		trips         int // per measurement; a cross-CPU trip wakes an idle CPU, 10x slower
	}{{"same-cpu", 0, 0, 20000}, {"cross-cpu", 0, 1, 4000}} {
		b.Run(mode.name, func(b *testing.B) {
			pin(mode.parent)
			defer runtime.UnlockOSThread()
			pp := startPingPong(b, mode.child)
			samples := make(map[string][]float64)
			statsHeld := false
			round := 0
			for b.Loop() {
				for i := range sets {
					s := sets[(i+round)%len(sets)]
					ps := loadProbes(b, s)
					detach := func() {}
					if s.empty {
						detach = attachEmptySwitch(b)
					}
					var runs uint64
					if s.noStats {
						stats.Close()
						runs = runCount(ps)
					}
					// Loading a probe (kernel BTF, the ELF) leaves garbage: collect it
					// and return its pages now, not while the round trips are timed
					// (the collector and scavenger may run on this CPU).
					debug.FreeOSMemory()
					pp.roundTrip(b, mode.trips/10) // warm up
					wall, cpu := pp.roundTrip(b, mode.trips)
					if s.noStats {
						if runCount(ps) != runs && !statsHeld {
							statsHeld = true
							b.Log("BPF statistics stayed on (another process holds them): sched-nostats paid for them too")
						}
						stats = enableStats(b)
					}
					samples["wall-"+s.name] = append(samples["wall-"+s.name], float64(wall.Nanoseconds()))
					samples["cpu-"+s.name] = append(samples["cpu-"+s.name], float64(cpu.Nanoseconds()))
					for _, p := range ps {
						if sp, ok := p.(*Probe); ok && sp.flushes != nil {
							t0 := time.Now()
							sp.flushes.Run(t0)
							samples["us/flush-"+s.name] = append(samples["us/flush-"+s.name], float64(time.Since(t0).Microseconds()))
						}
						for name, prog := range p.Objects().Programs() {
							if st, err := prog.Stats(); err == nil && st.RunCount > 0 && !s.noStats {
								key := "ns/run-" + name + "-" + s.name
								samples[key] = append(samples[key], float64(st.Runtime.Nanoseconds())/float64(st.RunCount))
							}
						}
						p.Close()
					}
					detach()
				}
				round++
			}
			b.ReportMetric(float64(threads(b)), "threads")
			for name, v := range samples {
				m := testutil.Median(v)
				b.ReportMetric(m, name)
				if clock, set, ok := strings.Cut(name, "-"); ok && (clock == "wall" || clock == "cpu") && set != "none" {
					base := testutil.Median(samples[clock+"-none"])
					b.ReportMetric(100*(m-base)/base, "%"+name)
				}
			}
		})
	}
}

// threads counts the machine's threads, what a flush pass walks.
func threads(b *testing.B) int {
	tasks, err := filepath.Glob("/proc/[0-9]*/task/[0-9]*")
	if err != nil {
		b.Fatal(err)
	}
	return len(tasks)
}

// runCount sums the runs of the probes' programs that BPF statistics counted.
func runCount(ps []probe.Probe) uint64 {
	var n uint64
	for _, p := range ps {
		for _, prog := range p.Objects().Programs() {
			if st, err := prog.Stats(); err == nil {
				n += st.RunCount
			}
		}
	}
	return n
}

// attachEmptySwitch attaches a program that returns at once to tp_btf
// sched_switch and returns what detaches it.
func attachEmptySwitch(b *testing.B) func() {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "sched_switch", License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		b.Fatal(err)
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		prog.Close()
		b.Fatal(err)
	}
	return func() { l.Close(); prog.Close() }
}

// loadProbes starts the probes of s; the caller closes them.
func loadProbes(b *testing.B, s probeSet) []probe.Probe {
	var ps []probe.Probe
	if s.sched {
		ps = append(ps, New(Options{RunqueueHistogram: s.histogram}))
	}
	if s.syscalls != nil {
		ps = append(ps, syscalls.New(syscalls.Options{Syscalls: s.syscalls}))
	}
	env := probe.Env{Events: events.NewBus(), Log: slog.Default()}
	for _, p := range ps {
		if err := p.Start(context.Background(), env); err != nil {
			b.Fatalf("start %s: %v", p.Name(), err)
		}
	}
	return ps
}
