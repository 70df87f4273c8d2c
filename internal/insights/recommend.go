package insights

import (
	"context"
	"fmt"
	"math"
	"path"
	"time"
)

// RecommendOptions are the parameters of Recommend; DefaultRecommend has
// the defaults.
type RecommendOptions struct {
	Filter Filter
	Window Window
	// CPUPercentile of the decayed CPU demand samples the request covers.
	CPUPercentile float64
	// Margin added on top of the usage figures (0.15: +15%).
	Margin float64
	// HalfLife of a sample's weight: a sample HalfLife older than the
	// window's end counts half.
	HalfLife time.Duration
	// Limits: also recommend limits (memory = the request; CPU = P99 of
	// the demand plus the margin).
	Limits bool
}

// DefaultRecommend are the VPA recommender's defaults: P90 plus 15%, 24 h
// half-life.
var DefaultRecommend = RecommendOptions{CPUPercentile: 0.9, Margin: 0.15, HalfLife: 24 * time.Hour}

const (
	minCPUCores    = 0.01     // 10m
	minMemoryBytes = 16 << 20 // 16 MiB
	// After an OOM kill, memory is at least the peak (or the limit it hit)
	// plus 20%, and plus 100 MiB (the VPA recommender's bump).
	oomBumpFactor = 1.2
	oomBumpBytes  = 100 << 20
	// lowHistory: less than this and a recommendation carries a risk note.
	lowHistory = time.Hour
)

// Resources are a container's requests and limits (nil: not set).
type Resources struct {
	CPURequestCores    *float64 `json:"cpu_request_cores,omitempty"`
	MemoryRequestBytes *float64 `json:"memory_request_bytes,omitempty"`
	CPULimitCores      *float64 `json:"cpu_limit_cores,omitempty"`
	MemoryLimitBytes   *float64 `json:"memory_limit_bytes,omitempty"`
}

// Evidence is what a recommendation rests on.
type Evidence struct {
	Window           string    `json:"window"`
	HistorySeconds   float64   `json:"history_seconds"`
	Samples          int       `json:"samples"`
	CPUPercentile    float64   `json:"cpu_percentile"`
	CPUP50Cores      float64   `json:"cpu_p50_cores"`
	CPUTargetCores   float64   `json:"cpu_percentile_cores"`
	CPUP99Cores      float64   `json:"cpu_p99_cores"`
	CPUMaxCores      float64   `json:"cpu_max_cores"`
	MemoryPeakBytes  float64   `json:"memory_peak_bytes"`
	MemoryPeakAt     time.Time `json:"memory_peak_at"`
	OOMKills         float64   `json:"oom_kills"`
	ThrottledSeconds float64   `json:"throttled_seconds"`
	// ThrottledRatio is throttled time over CPU demand (usage + throttled).
	ThrottledRatio float64 `json:"throttled_ratio"`
}

// Recommendation is the requests (and limits) proposed for one container
// of a workload, with the bounds, the evidence and the change against what
// it runs with.
type Recommendation struct {
	Workload
	CPURequestCores    float64  `json:"cpu_request_cores"`
	MemoryRequestBytes float64  `json:"memory_request_bytes"`
	CPULimitCores      *float64 `json:"cpu_limit_cores,omitempty"`
	MemoryLimitBytes   *float64 `json:"memory_limit_bytes,omitempty"`
	// Bounds (the VPA recommender's): outside them the current request is
	// worth changing; they widen with little history.
	CPULowerCores     float64   `json:"cpu_lower_cores"`
	CPUUpperCores     float64   `json:"cpu_upper_cores"`
	MemoryLowerBytes  float64   `json:"memory_lower_bytes"`
	MemoryUpperBytes  float64   `json:"memory_upper_bytes"`
	Current           Resources `json:"current"`
	CPUChangeCores    *float64  `json:"cpu_change_cores,omitempty"`
	MemoryChangeBytes *float64  `json:"memory_change_bytes,omitempty"`
	Risks             []string  `json:"risks,omitempty"`
	Evidence          Evidence  `json:"evidence"`
}

// workloadLabels are the labels the per-series queries keep.
const workloadLabels = "namespace,pod,container,cgroup"

// rangeQuery evaluates fn(selector[step]) per series of metric at every
// point of the window, keeping the workload labels and by (max collapses
// duplicate scrapes of one agent).
func rangeQuery(ctx context.Context, src Source, w Window, f Filter, by, fn, metric string, extra ...string) ([]Series, error) {
	expr := fmt.Sprintf("max by (%s) (%s(%s[%s]))", withLabels(by), fn, f.selector(metric, extra...), promDuration(w.Step))
	return src.Range(ctx, expr, w)
}

// windowQuery evaluates fn(selector[window]) at the window's end, per
// series, keeping the workload labels and by.
func windowQuery(ctx context.Context, src Source, w Window, f Filter, by, fn, metric string) ([]Series, error) {
	expr := fmt.Sprintf("max by (%s) (%s(%s[%s]))", withLabels(by), fn, f.selector(metric), promDuration(w.Length()))
	return src.Instant(ctx, expr, w.End)
}

func withLabels(by string) string {
	if by == "" {
		return workloadLabels
	}
	return workloadLabels + "," + by
}

func byCgroup(series []Series) map[string][]Point {
	out := make(map[string][]Point, len(series))
	for _, s := range series {
		out[s.Labels["cgroup"]] = append(out[s.Labels["cgroup"]], s.Points...)
	}
	return out
}

// lastValue is the value of each cgroup's series (by resource when by is
// set: key cgroup + "\x00" + resource).
func lastValue(series []Series, by string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range series {
		if len(s.Points) == 0 {
			continue
		}
		k := s.Labels["cgroup"]
		if by != "" {
			k += "\x00" + s.Labels[by]
		}
		out[k] = s.Points[len(s.Points)-1].V
	}
	return out
}

// Recommend proposes CPU and memory requests per container from the
// window's history:
//   - CPU: the CPUPercentile of the CPU demand samples (usage plus the time
//     throttled, which is CPU the container wanted and was refused: its
//     own, or its share of its pod's), each weighted by its age
//     (half-life), plus the margin;
//   - memory: the highest usage seen in the window (every step's maximum,
//     so short spikes count) plus the margin; after an OOM kill at least
//     +20% and +100 MiB over the peak or the limit.
//
// Containers of one workload (all pods of a Deployment, ...) are pooled.
func Recommend(ctx context.Context, src Source, o RecommendOptions) ([]Recommendation, error) {
	w, f := o.Window, o.Filter
	cpu, err := rangeQuery(ctx, src, w, f, "", "rate", "orb8_cpu_usage_seconds_total")
	if err != nil {
		return nil, err
	}
	throttled, err := rangeQuery(ctx, src, w, f, "", "rate", "orb8_cpu_throttled_seconds_total")
	if err != nil {
		return nil, err
	}
	mem, err := rangeQuery(ctx, src, w, f, "", "max_over_time", "orb8_memory_usage_bytes")
	if err != nil {
		return nil, err
	}
	ooms, err := windowQuery(ctx, src, w, f, "", "increase", "orb8_oom_kills_total")
	if err != nil {
		return nil, err
	}
	requests, err := windowQuery(ctx, src, w, f, "resource", "last_over_time", "orb8_workload_resource_requests")
	if err != nil {
		return nil, err
	}
	limits, err := windowQuery(ctx, src, w, f, "resource", "last_over_time", "orb8_workload_resource_limits")
	if err != nil {
		return nil, err
	}
	own, err := owners(ctx, src, f, w)
	if err != nil {
		return nil, err
	}
	cpuBy, thrBy, memBy := byCgroup(cpu), byCgroup(throttled), byCgroup(mem)
	oomBy, reqBy, limBy := lastValue(ooms, ""), lastValue(requests, "resource"), lastValue(limits, "resource")

	var out []Recommendation
	for _, g := range groupSeries(append(cpu, mem...), own, f, false) {
		current := Resources{
			CPURequestCores:    lookup(reqBy, g.w.Cgroup, "cpu"),
			MemoryRequestBytes: lookup(reqBy, g.w.Cgroup, "memory"),
			CPULimitCores:      lookup(limBy, g.w.Cgroup, "cpu"),
			MemoryLimitBytes:   lookup(limBy, g.w.Cgroup, "memory"),
		}
		r := recommendGroup(o, g, current, cpuBy, thrBy, memBy, oomBy)
		if r == nil {
			continue
		}
		r.assess()
		out = append(out, *r)
	}
	return out, nil
}

func lookup(m map[string]float64, cgroup, resource string) *float64 {
	if v, ok := m[cgroup+"\x00"+resource]; ok {
		return &v
	}
	return nil
}

// recommendGroup computes one workload's recommendation; nil without CPU
// or memory samples.
func recommendGroup(o RecommendOptions, g *group, current Resources, cpuBy, thrBy, memBy map[string][]Point, oomBy map[string]float64) *Recommendation {
	var demand, weights []float64
	var thrSum, useSum float64
	var first, last time.Time
	var peak Point
	var ooms float64
	seen := map[string]bool{}
	for _, s := range g.series {
		cg := s.Labels["cgroup"]
		if seen[cg] {
			continue
		}
		seen[cg] = true
		thr := heldBack(cg, cpuBy, thrBy)
		for _, p := range cpuBy[cg] {
			t := thr[p.T.Unix()]
			demand = append(demand, p.V+t)
			weights = append(weights, math.Exp2(-o.Window.End.Sub(p.T).Seconds()/o.HalfLife.Seconds()))
			useSum += p.V
			thrSum += t
			if first.IsZero() || p.T.Before(first) {
				first = p.T
			}
			if p.T.After(last) {
				last = p.T
			}
		}
		for _, p := range memBy[cg] {
			if p.V > peak.V {
				peak = p
			}
		}
		ooms += oomBy[cg]
	}
	if len(demand) == 0 || peak.V == 0 {
		return nil
	}
	step := o.Window.Step.Seconds()
	history := last.Sub(first) + o.Window.Step
	days := history.Hours() / 24
	m := 1 + o.Margin
	r := &Recommendation{Workload: g.w, Current: current}
	e := &r.Evidence
	e.Window, e.HistorySeconds, e.Samples = promDuration(o.Window.Length()), history.Seconds(), len(demand)
	e.CPUPercentile = o.CPUPercentile
	e.CPUP50Cores = weightedQuantile(demand, weights, 0.5)
	e.CPUTargetCores = weightedQuantile(demand, weights, o.CPUPercentile)
	e.CPUP99Cores = weightedQuantile(demand, weights, 0.99)
	e.CPUMaxCores = weightedQuantile(demand, weights, 1)
	e.MemoryPeakBytes, e.MemoryPeakAt = peak.V, peak.T
	e.OOMKills = ooms
	e.ThrottledSeconds = thrSum * step
	if useSum+thrSum > 0 {
		e.ThrottledRatio = thrSum / (useSum + thrSum)
	}

	r.CPURequestCores = roundCPU(e.CPUTargetCores * m)
	// The VPA recommender's confidence: bounds widen as 1/days of history.
	r.CPULowerCores = roundCPU(e.CPUP50Cores * m * math.Pow(1+0.001/days, -2))
	r.CPUUpperCores = roundCPU(weightedQuantile(demand, weights, 0.95) * m * (1 + 1/days))
	memory := peak.V * m
	if ooms > 0 {
		base := peak.V
		if l := r.Current.MemoryLimitBytes; l != nil && *l > base {
			base = *l
		}
		memory = max(memory, base*oomBumpFactor, base+oomBumpBytes)
	}
	r.MemoryRequestBytes = roundMemory(memory)
	r.MemoryLowerBytes = roundMemory(peak.V)
	r.MemoryUpperBytes = roundMemory(memory * (1 + 1/days))
	if o.Limits {
		cpuLimit := max(r.CPURequestCores, roundCPU(e.CPUP99Cores*m))
		memLimit := r.MemoryRequestBytes
		r.CPULimitCores, r.MemoryLimitBytes = &cpuLimit, &memLimit
	}
	return r
}

// heldBack is the CPU a container's quota held back at each step (unix
// seconds): its own throttled time, or its share of its pod's, whichever
// is more. kubelet sets the quota on the pod's cgroup too, and whichever
// runs out first is the one throttled; the pod's throttling is shared out
// in proportion to the containers' use.
func heldBack(cg string, cpuBy, thrBy map[string][]Point) map[int64]float64 {
	out := map[int64]float64{}
	for _, p := range thrBy[cg] {
		out[p.T.Unix()] = p.V
	}
	pod := path.Dir(cg)
	if len(thrBy[pod]) == 0 {
		return out
	}
	podUse := map[int64]float64{}
	for _, p := range cpuBy[pod] {
		podUse[p.T.Unix()] = p.V
	}
	own := map[int64]float64{}
	for _, p := range cpuBy[cg] {
		own[p.T.Unix()] = p.V
	}
	for _, p := range thrBy[pod] {
		t := p.T.Unix()
		if use := podUse[t]; use > 0 {
			out[t] = max(out[t], p.V*own[t]/use)
		}
	}
	return out
}

func roundCPU(cores float64) float64 {
	return math.Max(minCPUCores, math.Ceil(cores*1000-1e-9)/1000)
}

func roundMemory(bytes float64) float64 {
	return math.Max(minMemoryBytes, math.Ceil(bytes/(1<<20)-1e-9)*(1<<20))
}

// assess sets the changes against the current requests and the risks the
// evidence shows.
func (r *Recommendation) assess() {
	e, c := &r.Evidence, r.Current
	if c.CPURequestCores != nil {
		d := r.CPURequestCores - *c.CPURequestCores
		r.CPUChangeCores = &d
		if *c.CPURequestCores < e.CPUTargetCores {
			r.Risks = append(r.Risks, fmt.Sprintf("cpu request %s is below the p%.0f demand %s: throttling or contention under load",
				cores(*c.CPURequestCores), e.CPUPercentile*100, cores(e.CPUTargetCores)))
		}
	}
	if c.MemoryRequestBytes != nil {
		d := r.MemoryRequestBytes - *c.MemoryRequestBytes
		r.MemoryChangeBytes = &d
		if *c.MemoryRequestBytes < e.MemoryPeakBytes {
			r.Risks = append(r.Risks, fmt.Sprintf("memory request %s is below the peak %s: first to be evicted under node memory pressure",
				bytesIEC(*c.MemoryRequestBytes), bytesIEC(e.MemoryPeakBytes)))
		}
	}
	if l := c.MemoryLimitBytes; l != nil && *l < r.MemoryRequestBytes {
		r.Risks = append(r.Risks, fmt.Sprintf("memory limit %s is below the recommended %s: OOM kill risk", bytesIEC(*l), bytesIEC(r.MemoryRequestBytes)))
	}
	if e.OOMKills > 0 {
		r.Risks = append(r.Risks, fmt.Sprintf("%.0f OOM kills in the window: memory raised by at least 20%% and 100 MiB", e.OOMKills))
	}
	if e.ThrottledRatio > 0.05 {
		r.Risks = append(r.Risks, fmt.Sprintf("throttled %.0f%% of its CPU demand: the CPU limit holds it back", e.ThrottledRatio*100))
	}
	if time.Duration(e.HistorySeconds*float64(time.Second)) < lowHistory {
		r.Risks = append(r.Risks, fmt.Sprintf("only %s of history: bounds are wide", time.Duration(e.HistorySeconds*float64(time.Second)).Round(time.Second)))
	}
}

func cores(v float64) string { return fmt.Sprintf("%.3g", v) }

// bytesIEC writes bytes in binary units, as Kubernetes quantities read.
func bytesIEC(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.3gGi", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.4gMi", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.4gKi", v/(1<<10))
	}
	return fmt.Sprintf("%.0f", v)
}
