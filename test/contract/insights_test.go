package contract

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/insights"
)

// recorder is an insights.Source that answers nothing and keeps every
// expression it was asked.
type recorder struct{ exprs []string }

func (r *recorder) Range(_ context.Context, expr string, _ insights.Window) ([]insights.Series, error) {
	r.exprs = append(r.exprs, expr)
	return nil, nil
}

func (r *recorder) Instant(_ context.Context, expr string, _ time.Time) ([]insights.Series, error) {
	r.exprs = append(r.exprs, expr)
	return nil, nil
}

// externalMetrics are series insights read when Prometheus has them but no
// orb8 component exports yet: kube-state-metrics' HPA series (forecast),
// and the request metrics the contract names for the HTTP/gRPC probe
// (request rate, latency and errors; without them forecasts and
// regressions use CPU, memory, DNS and run-queue figures only).
var externalMetrics = []string{
	"kube_horizontalpodautoscaler_info", "kube_horizontalpodautoscaler_spec_min_replicas", "kube_horizontalpodautoscaler_spec_max_replicas",
	"orb8_http_requests_total", "orb8_http_request_duration_seconds_sum", "orb8_http_request_duration_seconds_count",
}

// insightsQueries runs every insight, with every filter, against a recorder.
func insightsQueries(t *testing.T) []string {
	t.Helper()
	sel, err := insights.ParseSelector("owner_kind=Deployment,container!=proxy")
	if err != nil {
		t.Fatal(err)
	}
	w, err := insights.NewWindow(time.Now(), 24*time.Hour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f := insights.Filter{Namespace: "shop", Pod: "web-*", Cgroup: "/kubepods/", Selector: sel}
	r := &recorder{}
	ctx := t.Context()
	o := insights.DefaultRecommend
	o.Filter, o.Window = f, w
	_, err1 := insights.Recommend(ctx, r, o)
	_, err2 := insights.Cost(ctx, r, insights.CostOptions{Filter: f, Window: w, By: insights.ByWorkload, Prices: insights.Prices{CPUCoreHour: 1}})
	_, err3 := insights.Forecasts(ctx, r, insights.ForecastOptions{Filter: f, Window: w, Horizon: time.Hour, TargetUtilization: 0.7})
	ro := insights.DefaultRegress
	ro.Filter, ro.Window = f, w
	_, _, err4 := insights.Regressions(ctx, r, ro)
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Regressions reads its metrics only once it has found rollouts: ask
	// for each of them through Rank's twin queries instead.
	for _, m := range insights.RankMetricNames() {
		if _, err := insights.Rank(ctx, r, insights.RankOptions{Filter: f, Window: w, Metric: m, By: insights.RankPods}); err != nil {
			t.Fatal(err)
		}
	}
	return r.exprs
}

// TestInsightsQueryOnlyKnownMetrics: every series an insight or orb8 ask
// queries is one the agent exports or docs/metrics.md lists (or a named
// kube-state-metrics series).
func TestInsightsQueryOnlyKnownMetrics(t *testing.T) {
	isKnown := known(t)
	exprs := insightsQueries(t)
	if len(exprs) < 30 {
		t.Fatalf("only %d queries recorded", len(exprs))
	}
	seen := map[string]bool{}
	for _, e := range exprs {
		for _, n := range metricNames(e) {
			seen[n] = true
			if !isKnown(n) && !slices.Contains(externalMetrics, n) {
				t.Errorf("insights query %s reads %s, which the agent does not export and docs/metrics.md does not list", e, n)
			}
		}
	}
	for _, want := range []string{"orb8_cpu_usage_seconds_total", "orb8_cpu_throttled_seconds_total", "orb8_workload_resource_requests",
		"orb8_workload_resource_limits", "orb8_workload_info", "orb8_memory_usage_bytes", "orb8_node_capacity"} {
		if !seen[want] {
			t.Errorf("no insights query reads %s", want)
		}
	}
}

// TestInsightsQueriesParse hands every insights query to promtool.
func TestInsightsQueriesParse(t *testing.T) {
	requirePromtool(t)
	exprs := insightsQueries(t)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: insights\n    rules:\n")
	for i, e := range exprs {
		quoted, _ := json.Marshal(e)
		fmt.Fprintf(&rules, "      - record: q%d\n        expr: %s\n", i, quoted)
	}
	path := filepath.Join(t.TempDir(), "insights.rules.yaml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("%d rules found", len(exprs))) {
		t.Fatalf("promtool check rules on the %d insights queries: %v\n%s", len(exprs), err, out)
	}
}
