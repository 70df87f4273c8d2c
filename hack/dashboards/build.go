package main

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Every panel and variable queries the Prometheus data source the user picks.
var datasource = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// rate is the window of every rate() and increase() in the dashboards.
const rate = "[$__rate_interval]"

// nodes selects the agents (scrape targets) picked in the instance variable.
const nodes = `instance=~"$instance"`

// workloads selects the workloads picked in the workload variables; their
// "All" value is ".*", so cgroups outside Kubernetes (empty names) match too.
const workloads = nodes + `, namespace=~"$namespace", pod=~"$pod", container=~"$container"`

// newDashboard starts a dashboard with the data source and instance
// variables, then the variables named by labels (namespace, pod, ...), each
// filtered by the ones before it.
func newDashboard(uid, title, description string, labels ...string) *dashboard.DashboardBuilder {
	return withVariables(baseDashboard(uid, title, description), "instance", "Node", nodes, labels...)
}

// withVariables adds the variable of first (on orb8_build_info), then those
// named by labels, each filtered by the ones before it (from filter, the
// selector of first).
func withVariables(d *dashboard.DashboardBuilder, first, title, filter string, labels ...string) *dashboard.DashboardBuilder {
	d.WithVariable(labelVariable(first, title, "orb8_build_info", ""))
	for _, l := range labels {
		d.WithVariable(labelVariable(l, strings.ToUpper(l[:1])+l[1:], "orb8_process_running", filter))
		filter += fmt.Sprintf(`, %s=~"$%s"`, l, l)
	}
	return d
}

// baseDashboard starts a dashboard with the data source variable.
func baseDashboard(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{"orb8", "ebpf"}).
		Refresh("30s").
		Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus"))
}

// labelVariable lists the values of label on metric{filter}; several or all
// may be picked.
func labelVariable(label, title, metric, filter string) *dashboard.QueryVariableBuilder {
	q := fmt.Sprintf("label_values(%s{%s}, %s)", metric, filter, label)
	return dashboard.NewQueryVariableBuilder(label).
		Label(title).
		Datasource(datasource).
		Query(dashboard.StringOrMap{String: cog.ToPtr(q)}).
		Definition(q).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*")
}

// query is one PromQL expression of a panel and the legend of its series.
type query struct{ expr, legend string }

func target(q query) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Expr(q.expr).LegendFormat(q.legend).Datasource(datasource)
}

// graph is a time series panel, half the dashboard wide.
func graph(title, unit, description string, queries ...query) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Unit(unit).
		Datasource(datasource).
		Span(12).
		Height(8).
		FillOpacity(10).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true).
			Calcs([]string{"mean", "max", "lastNotNull"}))
	for i, q := range queries {
		p.WithTarget(target(q).RefId(string(rune('A' + i))))
	}
	return p
}

// single is a stat panel showing the latest value, a quarter wide; at or
// above warnAt (when set) it turns red.
func single(title, unit, description, expr string, warnAt *float64) *stat.PanelBuilder {
	steps := []dashboard.Threshold{{Color: "green"}}
	if warnAt != nil {
		steps = append(steps, dashboard.Threshold{Value: warnAt, Color: "red"})
	}
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Unit(unit).
		Datasource(datasource).
		Span(6).
		Height(4).
		GraphMode(common.BigValueGraphModeArea).
		ColorMode(common.BigValueColorModeBackground).
		Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps)).
		WithTarget(target(query{expr: expr}).RefId("A"))
}

// above is a threshold for single.
func above(v float64) *float64 { return &v }

// meanWait is the mean run-queue wait per timeslice of the series sel
// selects, split by the labels in by: the rate of the wait counter over the
// rate of the timeslice counter (the sched probe's defaults).
func meanWait(sel, by, legend string) query {
	return query{
		expr: fmt.Sprintf("sum by (%[2]s) (rate(orb8_sched_runqueue_wait_seconds_total{%[1]s}%[3]s)) / sum by (%[2]s) (rate(orb8_sched_timeslices_total{%[1]s}%[3]s))",
			sel, by, rate),
		legend: strings.TrimSpace(legend + " mean"),
	}
}

// quantiles are the p50 and p99 of a histogram, summed over the series
// sel selects, split by the labels in by (may be empty).
func quantiles(histogram, sel, by, legend string) []query {
	group := "le"
	if by != "" {
		group = by + ", le"
	}
	var out []query
	for _, q := range []struct{ phi, name string }{{"0.5", "p50"}, {"0.99", "p99"}} {
		out = append(out, query{
			expr:   fmt.Sprintf("histogram_quantile(%s, sum by (%s) (rate(%s_bucket{%s}%s)))", q.phi, group, histogram, sel, rate),
			legend: strings.TrimSpace(legend + " " + q.name),
		})
	}
	return out
}
