package ask

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/common/model"

	"github.com/orb8/orb8/internal/insights"
)

// Defaults a query takes where the question said nothing.
const (
	defaultLimit   = 10
	defaultHorizon = "24h"
)

// defaultRange is the history each intent reads by default.
var defaultRange = map[string]string{
	IntentTop: "1h", IntentValue: "1h", IntentCost: "7d", IntentRecommend: "7d", IntentForecast: "14d", IntentRegressions: "24h",
}

// Resolve fills the defaults of what a question left out.
func Resolve(q Query) Query {
	if q.Range == "" {
		q.Range = defaultRange[q.Intent]
	}
	switch q.Intent {
	case IntentTop:
		if q.Kind == "" {
			q.Kind = insights.RankWorkloads
		}
		if q.Limit == 0 {
			q.Limit = defaultLimit
		}
		if q.Order == "" {
			q.Order = "desc"
		}
	case IntentValue:
		q.Kind = insights.RankWorkloads
	case IntentCost:
		if q.Kind == "" {
			q.Kind = insights.RankWorkloads
		}
	case IntentForecast:
		if q.Horizon == "" {
			q.Horizon = defaultHorizon
		}
	}
	return q
}

// Env is what queries run against.
type Env struct {
	Source insights.Source
	Prices insights.Prices
	End    time.Time // "now"
}

// Answer is what a query found: the rows of the insight it ran.
type Answer struct {
	Query           Query                     `json:"query"`
	Rank            []insights.RankRow        `json:"rank,omitempty"`
	Cost            []insights.CostRow        `json:"cost,omitempty"`
	Recommendations []insights.Recommendation `json:"recommendations,omitempty"`
	Forecasts       []insights.Forecast       `json:"forecasts,omitempty"`
	Comparisons     []insights.Comparison     `json:"comparisons,omitempty"`
	Rollouts        []insights.Rollout        `json:"-"`
}

// window is the stretch of history a range names, ending at end.
func window(r string, end time.Time, step time.Duration) (insights.Window, error) {
	switch r {
	case "today":
		midnight := time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, end.Location())
		return insights.NewWindow(end, max(end.Sub(midnight), step), step)
	case "yesterday":
		midnight := time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, end.Location())
		return insights.NewWindow(midnight, 24*time.Hour, step)
	}
	d, err := model.ParseDuration(r)
	if err != nil {
		return insights.Window{}, fmt.Errorf("range %q: %v", r, err)
	}
	return insights.NewWindow(end, time.Duration(d), step)
}

// regressMetrics maps a question's metric to the figure regressions compare.
var regressMetrics = map[string]string{
	"http_latency": "http_latency_seconds", "http_errors": "http_error_ratio", "dns_latency": "dns_latency_seconds",
	"runqueue_latency": "runqueue_wait_seconds", "cpu": "cpu_seconds_per_request", "memory": "memory_bytes",
}

// forecastMetrics maps a question's metric to the forecast's.
var forecastMetrics = map[string]string{"cpu": insights.MetricCPU, "http_requests": insights.MetricRequests}

// Run resolves a query and runs it.
func Run(ctx context.Context, q Query, env Env) (Answer, error) {
	q = Resolve(q)
	a := Answer{Query: q}
	f := insights.Filter{Namespace: q.Namespace, Workload: q.Workload}
	step := time.Minute
	if q.Intent == IntentForecast {
		step = time.Hour
	}
	w, err := window(q.Range, env.End, step)
	if err != nil {
		return a, err
	}
	switch q.Intent {
	case IntentTop, IntentValue:
		a.Rank, err = insights.Rank(ctx, env.Source, insights.RankOptions{
			Filter: f, Window: w, Metric: q.Metric, By: q.Kind, Limit: q.Limit, Ascending: q.Order == "asc",
		})
	case IntentCost:
		a.Cost, err = insights.Cost(ctx, env.Source, insights.CostOptions{Filter: f, Window: w, Prices: env.Prices, By: q.CostBy()})
		if q.Order == "asc" {
			for i, j := 0, len(a.Cost)-1; i < j; i, j = i+1, j-1 {
				a.Cost[i], a.Cost[j] = a.Cost[j], a.Cost[i]
			}
		}
	case IntentRecommend:
		o := insights.DefaultRecommend
		o.Filter, o.Window = f, w
		a.Recommendations, err = insights.Recommend(ctx, env.Source, o)
	case IntentForecast:
		h, perr := model.ParseDuration(q.Horizon)
		if perr != nil {
			return a, fmt.Errorf("horizon %q: %v", q.Horizon, perr)
		}
		var all []insights.Forecast
		all, err = insights.Forecasts(ctx, env.Source, insights.ForecastOptions{Filter: f, Window: w, Horizon: time.Duration(h), TargetUtilization: 0.7})
		for _, fc := range all {
			if q.Metric == "" || forecastMetrics[q.Metric] == fc.Metric {
				a.Forecasts = append(a.Forecasts, fc)
			}
		}
	case IntentRegressions:
		o := insights.DefaultRegress
		o.Filter, o.Window = f, w
		var all []insights.Comparison
		all, a.Rollouts, err = insights.Regressions(ctx, env.Source, o)
		for _, c := range all {
			if q.Metric == "" || regressMetrics[q.Metric] == c.Metric {
				a.Comparisons = append(a.Comparisons, c)
			}
		}
	default:
		err = fmt.Errorf("unknown intent %q", q.Intent)
	}
	return a, err
}

// CostBy is what a cost question's rows are.
func (q Query) CostBy() insights.CostBy {
	switch q.Kind {
	case insights.RankNamespaces:
		return insights.ByNamespace
	case "nodes":
		return insights.ByNode
	}
	return insights.ByWorkload
}

// PerPeriod is a cost row's cost at its window's rate over a period (hour,
// day, week, month, year); its cost over the window when period is "".
func PerPeriod(r insights.CostRow, period string) float64 {
	hours := map[string]float64{"hour": 1, "day": 24, "week": 7 * 24, "month": 730, "year": 8760}[period]
	if hours == 0 || r.Hours == 0 {
		return r.Cost
	}
	return r.Cost / r.Hours * hours
}
