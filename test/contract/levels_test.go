package contract

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/testutil"
)

// fixtureWorkloads are the cgroups the level fixture counts in: two pods
// of a Deployment (one with two containers), a StatefulSet's pod, and a
// service outside Kubernetes.
var fixtureWorkloads = []cgroup.Workload{
	{Namespace: "shop", Pod: "web-1", Container: "app", Path: "/kubepods/podweb1/app"},
	{Namespace: "shop", Pod: "web-1", Container: "proxy", Path: "/kubepods/podweb1/proxy"},
	{Namespace: "shop", Pod: "web-2", Container: "app", Path: "/kubepods/podweb2/app"},
	{Namespace: "data", Pod: "db-0", Container: "db", Path: "/kubepods/poddb0/db"},
	{Path: "/system.slice/sshd.service"},
}

type fixtureOwners struct{}

func (fixtureOwners) Version() uint64 { return 1 }

func (fixtureOwners) PodOwner(namespace, pod string) (string, string, series.OwnerState) {
	switch pod {
	case "web-1", "web-2":
		return "Deployment", "web", series.OwnerKnown
	case "db-0":
		return "StatefulSet", "db", series.OwnerKnown
	}
	return "", "", series.OwnerUnknown
}

// labelValues are the values of extra labels the fixture uses, such that
// every filter of the dashboards selects something.
var labelValues = map[string][]string{
	"direction": {"tx", "rx"}, "protocol": {"tcp", "udp"}, "rcode": {"SERVFAIL", "NOERROR"},
	"result": {"ok", "failed"}, "reason": {"exit", "signal"},
}

// fixture emits every per-workload family the dashboards query, for every
// fixture workload and combination of extra label values: counters and
// histogram buckets grow by a different step per series, gauges differ.
type fixture struct{ families []*series.Desc }

func (f fixture) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range f.families {
		ch <- d.Desc
	}
}

func (f fixture) Collect(ch chan<- prometheus.Metric) {
	for fi, d := range f.families {
		name := series.DescName(d.Desc)
		for wi, w := range fixtureWorkloads {
			for ci, extra := range combinations(d.ExtraLabels()) {
				step := float64(1 + wi + 3*ci + fi%5)
				labels := append(w.LabelValues(), extra...)
				switch {
				case d.Bounds() != nil:
					b := d.Bounds()
					buckets := map[float64]uint64{}
					for i, bound := range b {
						buckets[bound] = uint64(step) * uint64(min(i/3, 2))
					}
					ch <- prometheus.MustNewConstHistogram(d.Desc, 3*uint64(step), step*b[4], buckets, labels...)
				case strings.HasSuffix(name, "_total"):
					ch <- prometheus.MustNewConstMetric(d.Desc, prometheus.CounterValue, step, labels...)
				case strings.HasSuffix(name, "_suspected"): // a 0/1 flag
					ch <- prometheus.MustNewConstMetric(d.Desc, prometheus.GaugeValue, float64(wi%2), labels...)
				default:
					ch <- prometheus.MustNewConstMetric(d.Desc, prometheus.GaugeValue, step, labels...)
				}
			}
		}
	}
}

// combinations lists every combination of the fixture's values of labels.
func combinations(labels []string) [][]string {
	combos := [][]string{{}}
	for _, l := range labels {
		values := labelValues[l]
		if values == nil {
			values = []string{"v"}
		}
		var next [][]string
		for _, c := range combos {
			for _, v := range values {
				next = append(next, append(slices.Clone(c), v))
			}
		}
		combos = next
	}
	return combos
}

// inputSeries writes families as promtool input series labelled
// instance=<instance>: counters and histograms grow by their value each
// minute, gauges stay at it.
func inputSeries(b *strings.Builder, families []*dto.MetricFamily, instance string) {
	line := func(name string, labels []*dto.LabelPair, le string, values string) {
		pairs := []string{fmt.Sprintf("instance=%q", instance)}
		for _, l := range labels {
			pairs = append(pairs, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
		}
		if le != "" {
			pairs = append(pairs, fmt.Sprintf("le=%q", le))
		}
		series, _ := json.Marshal(name + "{" + strings.Join(pairs, ",") + "}")
		fmt.Fprintf(b, "      - series: %s\n        values: '%s'\n", series, values)
	}
	grow := func(v float64) string { return fmt.Sprintf("0+%gx10", v) }
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch {
			case m.Histogram != nil:
				for _, bucket := range m.Histogram.GetBucket() {
					line(f.GetName()+"_bucket", m.GetLabel(), fmt.Sprint(bucket.GetUpperBound()), grow(float64(bucket.GetCumulativeCount())))
				}
				line(f.GetName()+"_bucket", m.GetLabel(), "+Inf", grow(float64(m.Histogram.GetSampleCount())))
				line(f.GetName()+"_sum", m.GetLabel(), "", grow(m.Histogram.GetSampleSum()))
				line(f.GetName()+"_count", m.GetLabel(), "", grow(float64(m.Histogram.GetSampleCount())))
			case m.Counter != nil:
				line(f.GetName(), m.GetLabel(), "", grow(m.Counter.GetValue()))
			default:
				line(f.GetName(), m.GetLabel(), "", fmt.Sprintf("%g+0x10", m.GetGauge().GetValue()))
			}
		}
	}
}

// plainFamilies are the metrics without workload labels the dashboards
// query, one series each with every label set (gauges at 1).
func plainFamilies(names []string, described map[string][]string) []*dto.MetricFamily {
	var out []*dto.MetricFamily
	for _, n := range names {
		labels, ok := described[n]
		if !ok {
			continue
		}
		m := &dto.Metric{}
		for _, l := range labels {
			name, value := l, "v"
			m.Label = append(m.Label, &dto.LabelPair{Name: &name, Value: &value})
		}
		one := 1.0
		if strings.HasSuffix(n, "_total") {
			m.Counter = &dto.Counter{Value: &one}
		} else {
			m.Gauge = &dto.Gauge{Value: &one}
		}
		name := n
		out = append(out, &dto.MetricFamily{Name: &name, Metric: []*dto.Metric{m}})
	}
	return out
}

var (
	labelListRE   = regexp.MustCompile(`\b(?:by|on|without|ignoring)\s*\(([^)]*)\)`)
	aggregationRE = regexp.MustCompile(`\b(?:sum|min|max|avg|count|topk|bottomk|histogram_quantile)\s*(?:by\s*\([^)]*\)\s*)?\(`)
)

// workloadLabelsUsed are the workload labels a query's result depends on:
// those it groups or matches by, or all of them for a query that returns
// per-workload series as they are.
func workloadLabelsUsed(q string, selectsWorkloadFamily bool) []string {
	all := series.LevelCgroup.LabelNames()
	if selectsWorkloadFamily && !aggregationRE.MatchString(q) {
		return all
	}
	var used []string
	for _, m := range labelListRE.FindAllStringSubmatch(q, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); slices.Contains(all, l) && !slices.Contains(used, l) {
				used = append(used, l)
			}
		}
	}
	return used
}

// TestDashboardsAtEveryLevel renders every dashboard query against the
// series an agent exports at each aggregation level (a fixture of every
// per-workload family the dashboards use, shaped by series.Shaper as the
// agent shapes it) and has promtool evaluate them. A query whose grouping
// labels the level still has must give exactly the result it gives at
// cgroup level; every other one must still return something (absent
// labels read as empty, so its sums cover everything).
func TestDashboardsAtEveryLevel(t *testing.T) {
	requirePromtool(t)
	described := describedMetrics(t)
	files, _ := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	var queries []string
	var workload []*series.Desc
	var plain []string
	for _, f := range files {
		exprs, _ := testutil.DashboardQueries(t, f)
		for _, e := range exprs {
			queries = append(queries, e)
			for _, n := range metricNames(e) {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if base, ok := strings.CutSuffix(n, suffix); ok && described[base] != nil {
						n = base
					}
				}
				if d := series.WorkloadFamily(n); d != nil && !slices.Contains(workload, d) {
					workload = append(workload, d)
				} else if d == nil && !slices.Contains(plain, n) {
					plain = append(plain, n)
				}
			}
		}
	}
	var in strings.Builder
	for _, level := range series.Levels() {
		l, _ := series.ParseLevel(level)
		reg := prometheus.NewRegistry()
		reg.MustRegister(series.NewShaper(series.Shaping{Aggregation: l}, fixtureOwners{}, time.Minute).Wrap(fixture{workload}))
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		inputSeries(&in, append(families, plainFamilies(plain, described)...), level)
	}

	var tests strings.Builder
	type check struct{ query, level, what string }
	var checks []check
	expect := func(expr string, value int, c check) {
		quoted, _ := json.Marshal(expr)
		fmt.Fprintf(&tests, "      - expr: %s\n        eval_time: 10m\n        exp_samples:\n          - labels: '{}'\n            value: %d\n", quoted, value)
		checks = append(checks, c)
	}
	render := func(q, instance string) string {
		return strings.NewReplacer("$__rate_interval", "5m", "${__range}", "1h", "$__range", "1h",
			"$instance", instance, "$cluster", ".*", "$namespace", ".*", "$pod", ".*", "$container", ".*").Replace(q)
	}
	exact := map[string][]string{}
	for _, q := range queries {
		selects := slices.ContainsFunc(metricNames(q), func(n string) bool {
			return series.WorkloadFamily(strings.TrimSuffix(n, "_bucket")) != nil
		})
		used := workloadLabelsUsed(q, selects)
		qc := render(q, "cgroup")
		expect(fmt.Sprintf("count(%s) > bool 0", qc), 1, check{q, "cgroup", "a result"})
		for _, level := range series.Levels()[1:] {
			l, _ := series.ParseLevel(level)
			ql := render(q, level)
			if !slices.ContainsFunc(used, func(label string) bool { return !slices.Contains(l.LabelNames(), label) }) {
				exact[level] = append(exact[level], q)
				expect(fmt.Sprintf("count(%s) - count(%s)", ql, qc), 0, check{q, level, "as many series as at cgroup level"})
				expect(fmt.Sprintf("count(%s) - count(abs((%s) - ignoring(instance) (%s)) < 1e-9)", qc, ql, qc), 0, check{q, level, "the values of cgroup level"})
			} else {
				expect(fmt.Sprintf("count(%s) > bool 0", ql), 1, check{q, level, "a result"})
			}
		}
	}
	path := filepath.Join(t.TempDir(), "levels.test.yaml")
	doc := "rule_files: []\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n" + in.String() +
		"    promql_expr_test:\n" + tests.String()
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "test", "rules", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool test rules on %d checks of %d dashboard queries: %v\n%s", len(checks), len(queries), err, out)
	}
	for _, level := range series.Levels()[1:] {
		t.Logf("%s: %d of %d queries give the cgroup level's result, the others sum over what the level leaves out", level, len(exact[level]), len(queries))
	}
}

// TestAlertRulesWorkAtEveryLevel: the alert rules group by no workload
// label (they sum away only a family's own labels and keep the rest), so
// each fires per series at whatever level the agent exports.
func TestAlertRulesWorkAtEveryLevel(t *testing.T) {
	for rule, expr := range ruleExprs(t) {
		if used := workloadLabelsUsed(expr, false); len(used) > 0 {
			t.Errorf("rule %s groups or matches by %v, which coarser aggregation levels drop", rule, used)
		}
	}
}
