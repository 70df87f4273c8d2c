package syscalls

import (
	"context"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/config"
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
	// The agent always collects BPF run time; so does this.
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatal(err)
	}
	defer stats.Close()
	sets := []struct {
		name    string
		tracked []string // nil: no probe
	}{{"none", nil}, {"untracked", config.Default().Syscalls}, {"tracked", []string{"getppid"}}}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const calls = 200000
	samples := map[string][]float64{}
	round := 0
	for b.Loop() {
		for i := range sets {
			s := sets[(i+round)%len(sets)]
			var p *Probe
			if s.tracked != nil {
				cfg := config.Default()
				cfg.Syscalls = s.tracked
				p = New()
				if err := p.Start(context.Background(), probe.Env{Events: events.NewBus(), Log: slog.Default(), Config: cfg}); err != nil {
					b.Fatal(err)
				}
			}
			cpu0, t0 := testutil.ThreadCPUTime(b), time.Now()
			for range calls {
				unix.Getppid()
			}
			samples["wall-"+s.name] = append(samples["wall-"+s.name], float64(time.Since(t0).Nanoseconds())/calls)
			samples["cpu-"+s.name] = append(samples["cpu-"+s.name], float64((testutil.ThreadCPUTime(b)-cpu0).Nanoseconds())/calls)
			if p != nil {
				for name, prog := range p.Objects().Programs {
					if st, err := prog.Stats(); err == nil && st.RunCount > 0 {
						key := "ns/run-" + name + "-" + s.name
						samples[key] = append(samples[key], float64(st.Runtime.Nanoseconds())/float64(st.RunCount))
					}
				}
				p.Close()
			}
		}
		round++
	}
	for name, v := range samples {
		if strings.HasPrefix(name, "ns/run-") {
			b.ReportMetric(median(v), name)
		}
	}
	for _, clock := range []string{"wall", "cpu"} {
		base := median(samples[clock+"-none"])
		for _, s := range sets {
			m := median(samples[clock+"-"+s.name])
			b.ReportMetric(m, clock+"-ns/call-"+s.name)
			if s.name != "none" {
				b.ReportMetric(m-base, clock+"-ns-added-"+s.name)
			}
		}
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}
