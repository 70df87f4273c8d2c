package cli

import (
	"context"
	"time"

	"github.com/orb8/orb8/internal/insights"
)

// The Insights view of orb8 top reads what orb8 insights recommend and
// regressions would with their default windows.
const (
	topRecommendWindow   = 7 * 24 * time.Hour
	topRegressionsWindow = 24 * time.Hour
)

// topInsights feeds orb8 top's Insights view from Prometheus.
type topInsights struct {
	url    string
	src    insights.Source
	filter insights.Filter
}

func newTopInsights(url string, timeout time.Duration, o *clientOptions) (*topInsights, error) {
	// Days of history: Prometheus gets more time than an agent.
	src, err := insights.NewClient(url, max(timeout, time.Minute))
	if err != nil {
		return nil, err
	}
	f := insights.Filter{Namespace: o.namespace, Pod: o.pod, Cgroup: o.cgroup}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &topInsights{url: url, src: src, filter: f}, nil
}

func (t *topInsights) Recommend(ctx context.Context) ([]insights.Recommendation, error) {
	w, err := insights.NewWindow(time.Now(), topRecommendWindow, time.Minute)
	if err != nil {
		return nil, err
	}
	opts := insights.DefaultRecommend
	opts.Filter, opts.Window = t.filter, w
	return insights.Recommend(ctx, t.src, opts)
}

func (t *topInsights) Regressions(ctx context.Context) ([]insights.Comparison, error) {
	w, err := insights.NewWindow(time.Now(), topRegressionsWindow, time.Minute)
	if err != nil {
		return nil, err
	}
	opts := insights.DefaultRegress
	opts.Filter, opts.Window = t.filter, w
	cmps, _, err := insights.Regressions(ctx, t.src, opts)
	return cmps, err
}

func (t *topInsights) About() string {
	return t.url + ": requests over 7d, rollouts over 1d"
}
