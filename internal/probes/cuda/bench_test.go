package cuda

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/testutil"
)

// benchCalls is how many calls of each kind the app times per run.
const benchCalls = 200000

// benchKinds are the calls the app times, by the name it knows them by.
var benchKinds = []struct{ app, metric string }{
	{"driver", "driver-call(entry-only)"},          // cuLaunchKernel
	{"runtime", "runtime-call(entry-only+nested)"}, // cudaLaunchKernel reaching cuLaunchKernel
	{"alloc", "alloc-free-pair(runtime+nested)"},   // cudaMalloc (entry+return) then cudaFree
}

// cost is what one kind of call cost over a run.
type cost struct {
	ns, bpfNs, hits float64 // per call: wall time, BPF run time, probe hits
}

// runBench runs the stand-in app's timing loops, one per kind, and returns
// their cost per call; with a probe (f not nil), its uprobe programs' run
// time and count are read around each loop.
func runBench(b *testing.B, cg *testutil.Cgroup, dir string, f *fixture) map[string]cost {
	b.Helper()
	a := startApp(b, cg, dir, "bench", fmt.Sprint(benchCalls))
	if f != nil {
		testutil.Eventually(b, 2*time.Second, func() bool { return f.hooked(b) }, "stand-in libraries not hooked")
	}
	out := map[string]cost{}
	for _, k := range benchKinds {
		var before ebpf.ProgramStats
		if f != nil {
			before = f.uprobeStats(b)
		}
		if _, err := io.WriteString(a.Stdin, k.app+"\n"); err != nil {
			b.Fatal(err)
		}
		var c cost
		line := a.expect(b, "ns=")
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "ns=%g", &c.ns); err != nil {
			b.Fatalf("app said %q: %v", line, err)
		}
		if f != nil {
			after := f.uprobeStats(b)
			c.bpfNs = float64((after.Runtime - before.Runtime).Nanoseconds()) / benchCalls
			c.hits = float64(after.RunCount-before.RunCount) / benchCalls
		}
		out[k.app] = c
	}
	return out
}

// uprobeStats sums the run time and count of the probe's uprobe programs.
func (f *fixture) uprobeStats(b *testing.B) ebpf.ProgramStats {
	var sum ebpf.ProgramStats
	for _, p := range f.probe.objs.Programs() {
		if p.Type() != ebpf.Kprobe { // uprobes are kprobe programs
			continue
		}
		st, err := p.Stats()
		if err != nil {
			b.Fatal(err)
		}
		sum.Runtime += st.Runtime
		sum.RunCount += st.RunCount
	}
	return sum
}

// BenchmarkTracedCall measures what a hooked CUDA call costs: each iteration
// times 200000 calls of each kind, untraced and traced. Run with -benchtime Nx.
func BenchmarkTracedCall(b *testing.B) {
	testutil.RequireRoot(b)
	// The agent always collects BPF run time; so does this.
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatal(err)
	}
	defer stats.Close()
	dir := buildStandins(b)
	cg := testutil.NewCgroup(b)
	plain, traced := map[string]cost{}, map[string]cost{}
	add := func(sum, run map[string]cost) {
		for k, c := range run {
			s := sum[k]
			sum[k] = cost{s.ns + c.ns, s.bpfNs + c.bpfNs, s.hits + c.hits}
		}
	}
	for range b.N {
		add(plain, runBench(b, cg, dir, nil))
	}
	f := start(b, time.Minute)
	for range b.N {
		add(traced, runBench(b, cg, dir, f))
	}
	n := float64(b.N)
	for _, k := range benchKinds {
		p, t := plain[k.app], traced[k.app]
		b.ReportMetric(p.ns/n, "ns/untraced-"+k.metric)
		b.ReportMetric(t.ns/n, "ns/traced-"+k.metric)
		b.ReportMetric((t.ns-p.ns)/n, "ns-overhead/"+k.metric)
		b.ReportMetric(t.bpfNs/n, "bpf-ns/"+k.metric)
		b.ReportMetric(t.hits/n, "probe-hits/"+k.metric)
	}
}
