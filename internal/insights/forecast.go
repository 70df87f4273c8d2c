package insights

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"
)

// ForecastOptions are the parameters of Forecasts.
type ForecastOptions struct {
	Filter Filter
	Window Window // its Step is the model's step (an hour by default)
	// Horizon is how far ahead to forecast.
	Horizon time.Duration
	// TargetUtilization is the share of its pods' CPU requests a workload
	// should use at its peak (0.7: 70%), as an HPA target would say.
	TargetUtilization float64
}

// The metrics Forecasts models.
const (
	MetricCPU      = "cpu_cores"
	MetricRequests = "requests_per_second"
)

// ForecastPoint is one forecast step.
type ForecastPoint struct {
	T time.Time `json:"t"`
	V float64   `json:"v"`
}

// Forecast is one workload's metric forecast over the horizon, with the
// model's error on held-out history, and for CPU the replicas needed.
type Forecast struct {
	Workload
	Metric string `json:"metric"`
	Step   string `json:"step"`
	// Season is the period the model chose (24h or 168h).
	Season        string    `json:"season"`
	HistoryPoints int       `json:"history_points"`
	Current       float64   `json:"current"`
	Horizon       string    `json:"horizon"`
	Mean          float64   `json:"forecast_mean"`
	Peak          float64   `json:"forecast_peak"`
	PeakAt        time.Time `json:"forecast_peak_at"`
	// HoldoutError is the WAPE of the model fitted without the last
	// Holdout of history, on that stretch; NaiveError the same for a
	// seasonal-naive forecast (the value one season earlier).
	Holdout      string  `json:"holdout"`
	HoldoutError float64 `json:"holdout_error"`
	NaiveError   float64 `json:"seasonal_naive_error"`
	// CPU only: replicas now and needed to keep the forecast peak at the
	// target utilization of the pods' CPU requests, and the HPA's bounds
	// (from kube-state-metrics, when Prometheus has them).
	Replicas          int             `json:"replicas,omitempty"`
	CPURequestPerPod  *float64        `json:"cpu_request_per_pod,omitempty"`
	TargetUtilization float64         `json:"target_utilization,omitempty"`
	ReplicasNeeded    *int            `json:"replicas_needed,omitempty"`
	HPAMinReplicas    *int            `json:"hpa_min_replicas,omitempty"`
	HPAMaxReplicas    *int            `json:"hpa_max_replicas,omitempty"`
	Advice            string          `json:"advice,omitempty"`
	Points            []ForecastPoint `json:"points"`
}

// Forecasts models each workload's CPU (all its pods) and, where request
// metrics exist, its request rate, with Holt-Winters at the window's step:
// a daily and a weekly season are tried where the history holds two of
// them besides the held-out day, and the one with the smaller held-out
// error is kept.
func Forecasts(ctx context.Context, src Source, o ForecastOptions) ([]Forecast, error) {
	w, f := o.Window, o.Filter
	cpu, err := rangeQuery(ctx, src, w, f, "", "rate", "orb8_cpu_usage_seconds_total")
	if err != nil {
		return nil, err
	}
	reqs, err := src.Range(ctx, fmt.Sprintf("sum by (%s) (rate(%s[%s]))", workloadLabels,
		f.selector("orb8_http_requests_total", `direction="server"`), promDuration(w.Step)), w)
	if err != nil {
		return nil, err
	}
	cpuRequests, err := windowQuery(ctx, src, w, f, "resource", "last_over_time", "orb8_workload_resource_requests")
	if err != nil {
		return nil, err
	}
	own, err := owners(ctx, src, f, w)
	if err != nil {
		return nil, err
	}
	hpas, err := readHPAs(ctx, src, f, w)
	if err != nil {
		return nil, err
	}
	podCPU := map[string]float64{} // namespace/pod -> CPU requested by its containers
	for _, s := range cpuRequests {
		if s.Labels["resource"] == "cpu" && len(s.Points) > 0 {
			podCPU[s.Labels["namespace"]+"/"+s.Labels["pod"]] += s.Points[len(s.Points)-1].V
		}
	}
	var out []Forecast
	for _, m := range []struct {
		name   string
		series []Series
	}{{MetricCPU, cpu}, {MetricRequests, reqs}} {
		for _, g := range workloadTotals(m.series, own, f, w) {
			fc := forecastGroup(o, g, m.name)
			if fc == nil {
				continue
			}
			if m.name == MetricCPU {
				fc.sizeReplicas(o, g, podCPU, hpas)
			}
			out = append(out, *fc)
		}
	}
	return out, nil
}

// total is one workload's metric summed over its pods and containers at
// each step of the window (NaN where nothing was seen).
type total struct {
	w      Workload
	values []float64
	podsAt []map[string]bool // the pods seen at each step
}

// workloadTotals sums the leaf series of each workload (containers of one
// owner or pod together) on the window's grid.
func workloadTotals(series []Series, own map[string]owner, f Filter, w Window) []*total {
	n := int(w.Length() / w.Step)
	byKey := map[string]*total{}
	var keys []string
	for _, g := range groupSeries(series, own, f, true) {
		wl := g.w
		wl.Container = ""
		k := wl.key()
		t := byKey[k]
		if t == nil {
			t = &total{w: wl, values: make([]float64, n), podsAt: make([]map[string]bool, n)}
			for i := range t.values {
				t.values[i] = math.NaN()
			}
			byKey[k] = t
			keys = append(keys, k)
		} else if g.w.Pods > t.w.Pods {
			t.w.Pods = g.w.Pods
		}
		if g.w.Container != "" { // a container's latest pod names the workload
			t.w.Pod, t.w.Cgroup = g.w.Pod, g.w.Cgroup
		}
		for _, s := range g.series {
			for _, p := range s.Points {
				i := int(p.T.Sub(w.Start)/w.Step) - 1
				if i < 0 || i >= n {
					continue
				}
				if math.IsNaN(t.values[i]) {
					t.values[i] = 0
				}
				t.values[i] += p.V
				if t.podsAt[i] == nil {
					t.podsAt[i] = map[string]bool{}
				}
				t.podsAt[i][s.Labels["pod"]] = true
			}
		}
	}
	sort.Strings(keys)
	out := make([]*total, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

// forecastHoldout is the history held out to measure a model's error.
const forecastHoldout = 24 * time.Hour

// forecastGroup fits and forecasts one workload's metric; nil when its
// history is too short for a daily season.
func forecastGroup(o ForecastOptions, t *total, metric string) *Forecast {
	y, first := fillGaps(t.values)
	if y == nil {
		return nil
	}
	step := o.Window.Step
	day, week := int(24*time.Hour/step), int(7*24*time.Hour/step)
	holdout := max(1, int(forecastHoldout/step))
	m := chooseModel(y, []int{day, week}, holdout)
	if m == nil {
		return nil
	}
	horizon := int(o.Horizon / step)
	fc := &Forecast{
		Workload: t.w, Metric: metric, Step: promDuration(step), Season: promDuration(time.Duration(m.period) * step),
		HistoryPoints: len(y), Current: y[len(y)-1], Horizon: promDuration(o.Horizon),
		Holdout: promDuration(time.Duration(holdout) * step), HoldoutError: m.holdoutWAPE, NaiveError: m.naiveWAPE,
	}
	lastT := o.Window.Start.Add(time.Duration(first+len(y)) * step)
	sum := 0.0
	for h := 1; h <= horizon; h++ {
		v := max(0, m.model.forecast(h))
		at := lastT.Add(time.Duration(h) * step)
		fc.Points = append(fc.Points, ForecastPoint{at, v})
		sum += v
		if v > fc.Peak || h == 1 {
			fc.Peak, fc.PeakAt = v, at
		}
	}
	if horizon > 0 {
		fc.Mean = sum / float64(horizon)
	}
	return fc
}

// fillGaps trims the steps before the first value and after the last, and
// fills gaps between by linear interpolation; it returns the values and the
// index of the first. nil without values.
func fillGaps(v []float64) ([]float64, int) {
	first, last := -1, -1
	for i, x := range v {
		if !math.IsNaN(x) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return nil, 0
	}
	out := append([]float64(nil), v[first:last+1]...)
	prev := 0
	for i := 1; i < len(out); i++ {
		if math.IsNaN(out[i]) {
			continue
		}
		for j := prev + 1; j < i; j++ {
			out[j] = out[prev] + (out[i]-out[prev])*float64(j-prev)/float64(i-prev)
		}
		prev = i
	}
	return out, first
}

// sizeReplicas sets the replicas a CPU forecast needs: the peak over the
// target share of one pod's CPU requests.
func (fc *Forecast) sizeReplicas(o ForecastOptions, t *total, podCPU map[string]float64, hpas map[string]hpa) {
	for i := len(t.podsAt) - 1; i >= 0; i-- {
		if t.podsAt[i] != nil {
			fc.Replicas = len(t.podsAt[i])
			break
		}
	}
	// The CPU requests of the most recent pod's containers.
	perPod, found := podCPU[fc.Namespace+"/"+fc.Pod]
	if h, ok := hpas[fc.Namespace+"/"+fc.OwnerKind+"/"+fc.OwnerName]; ok {
		fc.HPAMinReplicas, fc.HPAMaxReplicas = &h.min, &h.max
	}
	if !found || perPod <= 0 || o.TargetUtilization <= 0 {
		fc.Advice = "no CPU request: replicas cannot be sized"
		return
	}
	fc.CPURequestPerPod, fc.TargetUtilization = &perPod, o.TargetUtilization
	need := max(1, int(math.Ceil(fc.Peak/(o.TargetUtilization*perPod)-1e-9)))
	fc.ReplicasNeeded = &need
	switch {
	case fc.HPAMaxReplicas != nil && *fc.HPAMaxReplicas < need:
		fc.Advice = fmt.Sprintf("the HPA's maxReplicas %d is below the %d the forecast peak needs", *fc.HPAMaxReplicas, need)
	case fc.HPAMaxReplicas != nil:
		fc.Advice = fmt.Sprintf("the HPA (%d-%d) covers the %d the forecast peak needs", *fc.HPAMinReplicas, *fc.HPAMaxReplicas, need)
	case need > fc.Replicas:
		fc.Advice = fmt.Sprintf("scale to %d replicas before the peak (now %d)", need, fc.Replicas)
	case need < fc.Replicas:
		fc.Advice = fmt.Sprintf("%d replicas hold the forecast peak (now %d)", need, fc.Replicas)
	default:
		fc.Advice = "the current replicas hold the forecast peak"
	}
}

// hpa is a HorizontalPodAutoscaler's bounds.
type hpa struct{ min, max int }

// readHPAs reads the HPAs' targets and bounds from kube-state-metrics
// series, keyed "namespace/Kind/name" of their target; empty when
// Prometheus has none.
func readHPAs(ctx context.Context, src Source, f Filter, w Window) (map[string]hpa, error) {
	last := func(metric string) ([]Series, error) {
		sel := metric
		if f.Namespace != "" {
			sel += fmt.Sprintf("{namespace=%q}", f.Namespace)
		}
		return src.Instant(ctx, fmt.Sprintf("last_over_time(%s[%s])", sel, promDuration(w.Length())), w.End)
	}
	info, err := last("kube_horizontalpodautoscaler_info")
	if err != nil || len(info) == 0 {
		return nil, err
	}
	minR, err := last("kube_horizontalpodautoscaler_spec_min_replicas")
	if err != nil {
		return nil, err
	}
	maxR, err := last("kube_horizontalpodautoscaler_spec_max_replicas")
	if err != nil {
		return nil, err
	}
	value := func(series []Series, ns, name string) (int, bool) {
		for _, s := range series {
			if s.Labels["namespace"] == ns && s.Labels["horizontalpodautoscaler"] == name && len(s.Points) > 0 {
				return int(s.Points[0].V), true
			}
		}
		return 0, false
	}
	out := map[string]hpa{}
	for _, s := range info {
		ns, name := s.Labels["namespace"], s.Labels["horizontalpodautoscaler"]
		lo, ok1 := value(minR, ns, name)
		hi, ok2 := value(maxR, ns, name)
		if ok1 && ok2 {
			out[ns+"/"+s.Labels["scaletargetref_kind"]+"/"+s.Labels["scaletargetref_name"]] = hpa{lo, hi}
		}
	}
	return out, nil
}
