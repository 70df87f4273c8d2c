package agent

import (
	"context"
	"math"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/tick"
)

// overheadEvery is how often the governor measures the agent's cost and
// adjusts sampling.
const overheadEvery = time.Second

// governor keeps the agent's cost under --max-overhead of the node's CPU.
// The cost is the agent's CPU time and, with --bpf-stats, its BPF programs'
// run time. Over budget, it makes the sampling of the probes whose records
// user space handles one by one (probe.Sampler: DNS messages, connection
// records) coarser by the overshoot; when even twice the current cost would
// fit, or the sampler took no record at all (the cost is other work), it
// halves the rate again. Counters kept in the kernel are
// never sampled.
type governor struct {
	a      *Agent
	budget float64 // share of the node's CPU
	cpus   float64

	last    time.Time
	cost    time.Duration     // as of last
	records map[string]uint64 // records each sampler had taken as of last
	ratio   atomic.Uint64     // math.Float64bits of the last window's share
}

func newGovernor(a *Agent) *governor {
	return &governor{a: a, budget: a.cfg.MaxOverhead, cpus: float64(runtime.NumCPU()), records: map[string]uint64{}}
}

// start measures from now, then every overheadEvery until ctx ends.
func (g *governor) start(ctx context.Context) {
	g.last, g.cost = time.Now(), g.spent()
	tick.Every(ctx, overheadEvery, g.step)
}

// spent is what the agent has cost the node so far.
func (g *governor) spent() time.Duration {
	var ts unix.Timespec
	var cpu time.Duration
	if unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts) == nil {
		cpu = time.Duration(ts.Nano())
	}
	if g.a.cfg.BPFStats {
		for _, p := range g.a.probes {
			if objs := p.Objects(); objs != nil && p.running() {
				for _, prog := range objs.Programs() {
					if st, err := prog.Stats(); err == nil {
						cpu += st.Runtime
					}
				}
			}
		}
	}
	return cpu
}

// step measures the last window and adjusts the samplers.
func (g *governor) step(now time.Time) {
	cost := g.spent()
	elapsed := now.Sub(g.last)
	if elapsed <= 0 {
		return
	}
	ratio := (cost - g.cost).Seconds() / (elapsed.Seconds() * g.cpus)
	g.last, g.cost = now, cost
	g.ratio.Store(math.Float64bits(ratio))
	for name, s := range g.samplers() {
		n := s.Records()
		idle := n == g.records[name]
		g.records[name] = n
		rate := nextRate(s.SampleRate(), ratio, g.budget)
		if idle { // nothing to shed: the cost is other work
			rate = max(s.SampleRate()/2, 1)
		}
		if rate != s.SampleRate() {
			if err := s.SetSampleRate(rate); err != nil {
				g.a.log.Warn("sampling not changed", "rate", rate, "err", err)
			}
		}
	}
}

// nextRate is the sampling rate after a window that cost ratio at rate.
// Over budget, coarser by the overshoot rounded up to a power of two (at
// least twice), so a storm is met within a window or two; under it, as
// fine as the cost would still fit if it doubled with every halving of the
// rate (an upper bound: part of the cost is not per record).
func nextRate(rate uint32, ratio, budget float64) uint32 {
	if ratio > budget {
		for over := ratio / budget; over > 1 && rate < probe.MaxSampleRate; over /= 2 {
			rate *= 2
		}
		return min(rate, probe.MaxSampleRate)
	}
	for ; rate > 1 && 2*ratio < budget; ratio *= 2 {
		rate /= 2
	}
	return rate
}

// Ratio is the share of the node's CPU the agent cost in the last window.
func (g *governor) Ratio() float64 { return math.Float64frombits(g.ratio.Load()) }

// samplers are the running probes that can shed records, by name.
func (g *governor) samplers() map[string]probe.Sampler {
	out := map[string]probe.Sampler{}
	for _, p := range g.a.probes {
		if s, ok := p.Probe.(probe.Sampler); ok && p.running() {
			out[p.Name()] = s
		}
	}
	return out
}
