package cuda

import (
	"fmt"
	"io"
	"math"
	"os"
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
		testutil.Eventually(b, 2*time.Second, func() bool { return f.hooked(b, a) }, "stand-in libraries not hooked")
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
	// Every call hooked: what a call costs when it is counted.
	f := startWith(b, Options{LeakWindow: time.Minute, Exact: true})
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

// launchBoundRun is how long each run of BenchmarkLaunchBound's loop lasts;
// exactRun, that of its exact-mode arm, whose count needs no check.
const (
	launchBoundRun = time.Minute
	exactRun       = 10 * time.Second
)

// BenchmarkLaunchBound: a launch-bound loop (each step ~4 us of host work,
// then one cudaLaunchKernel of the stand-in runtime built -O0, whose
// functions open endbr64; push like the real ones) run without the probe,
// with it by default (sampled), and with it exact, in rotating order, one
// run of each per iteration; reports the medians and the sampled run's count
// error against the launches made. Run with -benchtime 5x (about 11 minutes).
func BenchmarkLaunchBound(b *testing.B) {
	testutil.RequireRoot(b)
	dir := buildStandins(b, "-O0")
	type arm struct {
		name  string
		run   time.Duration
		opts  *Options // nil: no probe
		steps []float64
		errs  []float64
	}
	arms := []*arm{
		{name: "untraced", run: launchBoundRun},
		{name: "sampled", run: launchBoundRun, opts: &Options{LeakWindow: time.Minute}},
		{name: "exact", run: exactRun, opts: &Options{LeakWindow: time.Minute, Exact: true}},
	}
	for i := range b.N {
		for j := range arms {
			a := arms[(i+j)%len(arms)]
			step, countErr := launchBoundOnce(b, dir, a.run, a.opts)
			a.steps = append(a.steps, step)
			if a.opts != nil {
				a.errs = append(a.errs, countErr)
			}
			// As it goes (b.Log would print at the end, truncated).
			fmt.Fprintf(os.Stderr, "round %d of %d, %s: %.1f ns per step, count error %+.2f%%\n", i+1, b.N, a.name, step, 100*countErr)
		}
	}
	base := testutil.Median(arms[0].steps)
	for _, a := range arms {
		m := testutil.Median(a.steps)
		b.ReportMetric(m, "ns/step-"+a.name)
		if a.opts != nil {
			b.ReportMetric(100*(m/base-1), "%slower-"+a.name)
			worst := 0.0
			for _, e := range a.errs {
				worst = max(worst, math.Abs(e))
			}
			b.ReportMetric(100*worst, "%worst-count-error-"+a.name)
		}
	}
}

// launchBoundOnce runs the loop once in a new cgroup, with the probe when
// opts is set (started first, as an agent is), and returns its time per step
// and, with the probe, the counted launches' error against those made.
func launchBoundOnce(b *testing.B, dir string, run time.Duration, opts *Options) (step, countErr float64) {
	cg := testutil.NewCgroup(b)
	var f *fixture
	if opts != nil {
		f = startWith(b, *opts)
		defer f.probe.Close()
	}
	a := startApp(b, cg, dir, "loop", fmt.Sprint(run.Milliseconds()))
	defer a.exit(b)
	if f != nil {
		testutil.Eventually(b, 2*time.Second, func() bool { return f.hooked(b, a) }, "the app's launches not hooked")
	}
	r := runLoop(b, a, launchWork, 0)
	if f != nil {
		counted := f.value(b, "orb8_accelerator_kernel_launches_total", map[string]string{"cgroup": cg.Path})
		countErr = counted/r.launches - 1
	}
	return float64(r.perStep.Nanoseconds()), countErr
}
