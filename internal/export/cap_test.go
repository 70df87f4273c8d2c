package export_test

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/export"
	"github.com/orb8/orb8/internal/testutil"
)

func TestSeriesCapKeepsTheFirstSeriesAndCountsTheRest(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	wide := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wide", Help: "h"}, []string{"cgroup"})
	narrow := prometheus.NewGauge(prometheus.GaugeOpts{Name: "narrow", Help: "h"})
	reg.MustRegister(wide, narrow)
	for i := range 5 {
		wide.WithLabelValues("/w" + strconv.Itoa(i)).Set(1)
	}
	c := export.NewSeriesCap(reg, 3)
	for round, wantDropped := range []float64{2, 4} {
		families, err := c.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range families {
			names = append(names, f.GetName())
		}
		if got := strings.Join(names, " "); got != "narrow orb8_series_dropped_total wide" {
			t.Fatalf("round %d: families %q, want them sorted with the dropped counter", round, got)
		}
		if got := testutil.Series(t, gathered(families), "wide"); got != "{cgroup=/w0} {cgroup=/w1} {cgroup=/w2}" {
			t.Errorf("round %d: kept %s, want the first three", round, got)
		}
		if v, _ := testutil.Sample(t, gathered(families), export.DroppedMetricName, map[string]string{"metric": "wide"}); v != wantDropped {
			t.Errorf("round %d: dropped{metric=wide} = %v, want %v", round, v, wantDropped)
		}
		if _, ok := testutil.Sample(t, gathered(families), export.DroppedMetricName, map[string]string{"metric": "narrow"}); ok {
			t.Errorf("round %d: a metric under the cap has a dropped series", round)
		}
	}
	if families, _ := export.NewSeriesCap(reg, 0).Gather(); len(families) != 2 || len(families[1].Metric) != 5 {
		t.Errorf("limit 0 should pass everything: %v", families)
	}
}

// TestAgentServesCappedSeries checks the cap sits between the probes and
// /metrics: three busy cgroups, a cap of two.
func TestAgentServesCappedSeries(t *testing.T) {
	cfg := agent.DefaultConfig()
	cfg.MaxSeriesPerMetric = 2
	a := startAgent(t, cfg)
	for range 3 {
		testutil.NewCgroup(t).Run(t, "/bin/true")
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(families["orb8_process_exec_total"].GetMetric()); n != 2 {
		t.Errorf("/metrics has %d orb8_process_exec_total series, want the cap of 2", n)
	}
	var dropped float64
	for _, m := range families[export.DroppedMetricName].GetMetric() {
		if m.GetLabel()[0].GetValue() == "orb8_process_exec_total" {
			dropped = m.GetCounter().GetValue()
		}
	}
	if dropped < 1 {
		t.Errorf("orb8_series_dropped_total{metric=orb8_process_exec_total} = %v, want at least the 1 cgroup over the cap", dropped)
	}
}

// gathered serves families already gathered, to read them with testutil.
func gathered(families []*dto.MetricFamily) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return families, nil })
}
