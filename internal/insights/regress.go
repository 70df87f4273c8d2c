package insights

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"
)

// RegressOptions are the parameters of Regressions.
type RegressOptions struct {
	Filter Filter
	Window Window
	// Compare is how much history each side of a rollout contributes;
	// Settle is skipped after the rollout (pods starting, caches warming).
	Compare, Settle time.Duration
	// Alpha is the significance level of the Mann-Whitney test; MinChange
	// the least relative change reported (0.1: 10%). Error ratios, often 0
	// before, need a change of a point (0.01) instead.
	Alpha, MinChange float64
}

// DefaultRegress are the defaults: an hour each side, 5 minutes settling,
// p < 0.01 and at least 10%.
var DefaultRegress = RegressOptions{Compare: time.Hour, Settle: 5 * time.Minute, Alpha: 0.01, MinChange: 0.1}

// minErrorRatioChange is the least change of an error ratio reported.
const minErrorRatioChange = 0.01

// Verdicts of a comparison.
const (
	VerdictRegression  = "regression"
	VerdictImprovement = "improvement"
	VerdictNoChange    = "no change"
)

// Comparison is one metric of one workload before and after a rollout.
type Comparison struct {
	Workload
	RolloutAt time.Time `json:"rollout_at"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Metric    string    `json:"metric"`
	Before    float64   `json:"before"` // medians
	After     float64   `json:"after"`
	// Change is the Hodges-Lehmann shift (the median of the after-minus-
	// before differences); ChangeRelative that over the before median.
	Change         float64  `json:"change"`
	ChangeRelative *float64 `json:"change_relative,omitempty"`
	PValue         float64  `json:"p_value"`
	SamplesBefore  int      `json:"samples_before"`
	SamplesAfter   int      `json:"samples_after"`
	Verdict        string   `json:"verdict"`
}

// Rollout is a change of a workload's image or template revision.
type Rollout struct {
	Workload
	At       time.Time
	From, To string
}

// regressMetric is a per-workload figure compared across rollouts. Every
// one of them is worse when higher.
type regressMetric struct {
	name string
	// ratio: its change is judged in absolute points, not relative.
	ratio bool
	// read returns the figure per workload per step.
	read func(ctx context.Context, q *regressQuery) (map[string][]float64, error)
}

var regressMetrics = []regressMetric{
	{name: "http_latency_seconds", read: meanOf2("orb8_http_request_duration_seconds_sum", "orb8_http_request_duration_seconds_count", `direction="server"`)},
	{name: "http_error_ratio", ratio: true, read: ratioOf("orb8_http_requests_total", `direction="server",status_code=~"5.."`, `direction="server"`)},
	{name: "dns_latency_seconds", read: meanOf2("orb8_dns_latency_seconds_sum", "orb8_dns_latency_seconds_count", "")},
	{name: "runqueue_wait_seconds", read: meanOf2("orb8_sched_runqueue_wait_seconds_total", "orb8_sched_timeslices_total", "")},
	{name: "cpu_seconds_per_request", read: perRequest("orb8_cpu_usage_seconds_total")},
	{name: "memory_bytes", read: summed("avg_over_time", "orb8_memory_usage_bytes", "")},
}

// regressQuery reads figures per workload on the window's grid.
type regressQuery struct {
	src  Source
	f    Filter
	w    Window
	own  map[string]owner
	keys map[string]bool // workloads with rollouts
}

// sums returns fn(metric{extra}[step]) summed per workload (its pods'
// leaf cgroups) and by label, on the grid (NaN where absent).
func (q *regressQuery) sums(ctx context.Context, fn, metric, extra, by string) (map[string][]float64, error) {
	expr := fmt.Sprintf("sum by (%s) (%s(%s[%s]))", withLabels(by), fn, q.f.selector(metric, extra), promDuration(q.w.Step))
	series, err := q.src.Range(ctx, expr, q.w)
	if err != nil {
		return nil, err
	}
	n := int(q.w.Length() / q.w.Step)
	out := map[string][]float64{}
	leaf := leaves(series)
	for _, s := range series {
		wl := workloadOf(s.Labels, q.own)
		wl.Container = ""
		k := wl.key()
		if !leaf[wl.Cgroup] || !q.keys[k] {
			continue
		}
		if by != "" {
			k += "\x00" + s.Labels[by]
		}
		v := out[k]
		if v == nil {
			v = nanGrid(n)
			out[k] = v
		}
		for _, p := range s.Points {
			if i := int(p.T.Sub(q.w.Start)/q.w.Step) - 1; i >= 0 && i < n {
				if math.IsNaN(v[i]) {
					v[i] = 0
				}
				v[i] += p.V
			}
		}
	}
	return out, nil
}

func nanGrid(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = math.NaN()
	}
	return v
}

// divide is a / b per step (NaN where b is 0 or either is absent).
func divide(a, b map[string][]float64) map[string][]float64 {
	out := map[string][]float64{}
	for k, num := range a {
		den, ok := b[k]
		if !ok {
			continue
		}
		v := nanGrid(len(num))
		for i := range num {
			if den[i] > 0 {
				v[i] = num[i] / den[i]
			}
		}
		out[k] = v
	}
	return out
}

func summed(fn, metric, extra string) func(context.Context, *regressQuery) (map[string][]float64, error) {
	return func(ctx context.Context, q *regressQuery) (map[string][]float64, error) {
		return q.sums(ctx, fn, metric, extra, "")
	}
}

// meanOf2 is a histogram's mean: rate of its sum over rate of its count.
func meanOf2(sum, count, extra string) func(context.Context, *regressQuery) (map[string][]float64, error) {
	return func(ctx context.Context, q *regressQuery) (map[string][]float64, error) {
		s, err := q.sums(ctx, "rate", sum, extra, "")
		if err != nil {
			return nil, err
		}
		c, err := q.sums(ctx, "rate", count, extra, "")
		if err != nil {
			return nil, err
		}
		return divide(s, c), nil
	}
}

// ratioOf is the rate of metric{part} over the rate of metric{whole}.
func ratioOf(metric, part, whole string) func(context.Context, *regressQuery) (map[string][]float64, error) {
	return func(ctx context.Context, q *regressQuery) (map[string][]float64, error) {
		p, err := q.sums(ctx, "rate", metric, part, "")
		if err != nil {
			return nil, err
		}
		all, err := q.sums(ctx, "rate", metric, whole, "")
		if err != nil {
			return nil, err
		}
		// No failing request in a step is a ratio of 0, not an absence.
		for k, v := range all {
			if p[k] == nil {
				p[k] = nanGrid(len(v))
			}
			for i := range v {
				if !math.IsNaN(v[i]) && math.IsNaN(p[k][i]) {
					p[k][i] = 0
				}
			}
		}
		return divide(p, all), nil
	}
}

// perRequest is the rate of metric per server request.
func perRequest(metric string) func(context.Context, *regressQuery) (map[string][]float64, error) {
	return func(ctx context.Context, q *regressQuery) (map[string][]float64, error) {
		m, err := q.sums(ctx, "rate", metric, "", "")
		if err != nil {
			return nil, err
		}
		r, err := q.sums(ctx, "rate", "orb8_http_requests_total", `direction="server"`, "")
		if err != nil {
			return nil, err
		}
		return divide(m, r), nil
	}
}

// rollouts finds the changes of each workload's revision (or image, for
// workloads without one) in the window: a version first seen after the
// window's first step follows the one seen before it.
func rollouts(ctx context.Context, src Source, f Filter, w Window) ([]Rollout, map[string]owner, error) {
	info, err := src.Range(ctx, fmt.Sprintf("max by (%s,owner_kind,owner_name,image,revision) (%s)", workloadLabels, f.selector("orb8_workload_info")), w)
	if err != nil {
		return nil, nil, err
	}
	own, err := owners(ctx, src, f, w)
	if err != nil {
		return nil, nil, err
	}
	type version struct {
		name  string
		first time.Time
	}
	byOwner := map[string]map[string]*version{}
	names := map[string]Workload{} // the workload named by its latest pod
	latest := map[string]time.Time{}
	for _, s := range info {
		if len(s.Points) == 0 || s.Labels["owner_name"] == "" {
			continue
		}
		wl := Workload{Namespace: s.Labels["namespace"], OwnerKind: s.Labels["owner_kind"], OwnerName: s.Labels["owner_name"], Pod: s.Labels["pod"], Cgroup: s.Labels["cgroup"]}
		if !f.matches(wl) {
			continue
		}
		k := wl.key()
		v := s.Labels["image"]
		if r := s.Labels["revision"]; r != "" {
			v += "@" + r
		}
		if byOwner[k] == nil {
			byOwner[k] = map[string]*version{}
		}
		cur := byOwner[k][v]
		if cur == nil {
			cur = &version{name: v, first: s.Points[0].T}
			byOwner[k][v] = cur
		}
		if s.Points[0].T.Before(cur.first) {
			cur.first = s.Points[0].T
		}
		if last := s.Points[len(s.Points)-1].T; last.After(latest[k]) {
			names[k], latest[k] = wl, last
		}
	}
	var out []Rollout
	for k, versions := range byOwner {
		list := make([]*version, 0, len(versions))
		for _, v := range versions {
			list = append(list, v)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].first.Before(list[j].first) })
		for i := 1; i < len(list); i++ {
			if list[i].first.After(w.Start.Add(w.Step)) {
				out = append(out, Rollout{Workload: names[k], At: list[i].first, From: list[i-1].name, To: list[i].name})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].key() != out[j].key() {
			return out[i].key() < out[j].key()
		}
		return out[i].At.Before(out[j].At)
	})
	return out, own, nil
}

// Regressions finds the rollouts of the window and compares each
// workload's figures an hour (Compare) before and after each (Settle
// skipped): server request latency and error ratio, DNS latency, run-queue
// latency p99, CPU per request and memory. A change is reported when the
// Mann-Whitney test finds it significant at Alpha and it is at least
// MinChange of the figure before (a point, for error ratios): a large
// sample makes a 2% drift significant, and that is not a regression.
func Regressions(ctx context.Context, src Source, o RegressOptions) ([]Comparison, []Rollout, error) {
	ro, own, err := rollouts(ctx, src, o.Filter, o.Window)
	if err != nil || len(ro) == 0 {
		return nil, ro, err
	}
	q := &regressQuery{src: src, f: o.Filter, w: o.Window, own: own, keys: map[string]bool{}}
	for _, r := range ro {
		q.keys[r.key()] = true
	}
	var out []Comparison
	for _, m := range regressMetrics {
		figures, err := m.read(ctx, q)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range ro {
			v, ok := figures[r.key()]
			if !ok {
				continue
			}
			if c, ok := compare(o, r, m, v); ok {
				out = append(out, c)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].RolloutAt.Equal(out[j].RolloutAt) {
			return out[i].RolloutAt.Before(out[j].RolloutAt)
		}
		return out[i].key() < out[j].key()
	})
	return out, ro, nil
}

// minSide is the fewest samples a side needs for the normal approximation.
const minSide = 8

// compare tests one metric around one rollout; false when a side has too
// few samples.
func compare(o RegressOptions, r Rollout, m regressMetric, v []float64) (Comparison, bool) {
	w := o.Window
	var before, after []float64
	for i, x := range v {
		if math.IsNaN(x) {
			continue
		}
		t := w.Start.Add(time.Duration(i+1) * w.Step) // the step ending at t
		switch {
		case !t.After(r.At) && t.After(r.At.Add(-o.Compare)):
			before = append(before, x)
		case t.After(r.At.Add(o.Settle)) && !t.After(r.At.Add(o.Settle+o.Compare)):
			after = append(after, x)
		}
	}
	if len(before) < minSide || len(after) < minSide {
		return Comparison{}, false
	}
	c := Comparison{
		Workload: r.Workload, RolloutAt: r.At, From: r.From, To: r.To, Metric: m.name,
		Before: median(before), After: median(after), Change: hodgesLehmann(before, after),
		PValue: mannWhitney(before, after), SamplesBefore: len(before), SamplesAfter: len(after),
		Verdict: VerdictNoChange,
	}
	c.Workload.Container = ""
	big := math.Abs(c.Change) >= minErrorRatioChange
	if c.Before != 0 {
		rel := c.Change / math.Abs(c.Before)
		c.ChangeRelative = &rel
		if !m.ratio {
			big = math.Abs(rel) >= o.MinChange
		}
	} else if !m.ratio {
		big = c.Change != 0
	}
	if c.PValue < o.Alpha && big {
		c.Verdict = VerdictRegression
		if c.Change < 0 {
			c.Verdict = VerdictImprovement
		}
	}
	return c, true
}
