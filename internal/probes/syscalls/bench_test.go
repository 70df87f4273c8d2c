package syscalls

import (
	"context"
	"log/slog"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

// BenchmarkGetppidCost is what the probe adds to one syscall: none (no
// probe), untracked (probe loaded, getppid not in its set: every syscall
// still passes both hooks) and tracked (getppid counted and timed). Each
// iteration is one round over the three, rotated, 200k calls each, timed in
// wall time and in the thread's CPU time (which a busy machine disturbs
// less); values are medians over rounds. Run with -benchtime=Nx for N rounds.
func BenchmarkGetppidCost(b *testing.B) {
	testutil.RequireRoot(b)
	// BPF run time per program, as the agent collects with --bpf-stats.
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatal(err)
	}
	defer stats.Close()
	tracked := map[string][]string{"untracked": DefaultOptions().Syscalls, "tracked": {"getppid"}}
	sets := []string{"none", "untracked", "tracked"}
	programs := map[string][]float64{}
	samples := testutil.GetppidRounds(b, sets, 200000, func(set string) func() {
		if tracked[set] == nil {
			return func() {}
		}
		p := New(Options{Syscalls: tracked[set]})
		if err := p.Start(context.Background(), probe.Env{Events: events.NewBus(), Log: slog.Default()}); err != nil {
			b.Fatal(err)
		}
		return func() {
			for name, prog := range p.Objects().Programs() {
				if st, err := prog.Stats(); err == nil && st.RunCount > 0 {
					key := "ns/run-" + name + "-" + set
					programs[key] = append(programs[key], float64(st.Runtime.Nanoseconds())/float64(st.RunCount))
				}
			}
			p.Close()
		}
	})
	for name, v := range programs {
		b.ReportMetric(testutil.Median(v), name)
	}
	for _, clock := range []string{"wall", "cpu"} {
		base := testutil.Median(samples[clock+"-none"])
		for _, set := range sets {
			m := testutil.Median(samples[clock+"-"+set])
			b.ReportMetric(m, clock+"-ns/call-"+set)
			if set != "none" {
				b.ReportMetric(m-base, clock+"-ns-added-"+set)
			}
		}
	}
}
