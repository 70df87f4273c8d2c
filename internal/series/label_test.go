package series

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

var clashTestDesc = testSet.Workload("orb8_test_clash_total", "Has a cluster label of its own.", "cluster")

// TestAddLabelWritesWhatAConstLabelWrites: a label added to the exposition
// comes out byte for byte as the same label given as a constant label to
// every collector of a registry, whether its name sorts before, among or
// after the series' own labels.
func TestAddLabelWritesWhatAConstLabelWrites(t *testing.T) {
	for _, name := range []string{"aaa", "cluster", "zone"} {
		reg := prometheus.NewRegistry()
		prometheus.WrapRegistererWith(prometheus.Labels{name: `prod-"eu"`}, reg).MustRegister(testCollectors(false)...)
		want := gathererText(t, reg)

		e, err := Gather(testCollectors(true))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.AddLabel(name, `prod-"eu"`); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := e.WriteText(&got, textFormat); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("label %s: exposition differs from the registry's:\n--- exposition\n%s\n--- registry\n%s", name, got.Bytes(), want)
		}
		for _, line := range strings.Split(strings.TrimSpace(got.String()), "\n") {
			if !strings.HasPrefix(line, "#") && !strings.Contains(line, name+`="prod-\"eu\""`) {
				t.Errorf("label %s missing from %s", name, line)
			}
		}
	}
}

// TestAddLabelLeavesOutClashingMetrics: a metric with a label of the added
// name (per-workload or not) is left out and named; the rest are labelled.
func TestAddLabelLeavesOutClashingMetrics(t *testing.T) {
	own := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orb8_test_own_cluster", Help: "h"}, []string{"cluster"})
	own.WithLabelValues("x").Set(1)
	collectors := append(testCollectors(true), own, &emitter{fast: true, descs: []*prometheus.Desc{clashTestDesc.Desc},
		points: []emitted{{desc: clashTestDesc, kind: prometheus.CounterValue, value: 1, w: wA, extra: []string{"y"}}}})
	e, err := Gather(collectors)
	if err != nil {
		t.Fatal(err)
	}
	err = e.AddLabel("cluster", "a")
	var clash *LabelClashError
	if !errors.As(err, &clash) || strings.Join(clash.Metrics, ",") != "orb8_test_clash_total,orb8_test_own_cluster" {
		t.Fatalf("AddLabel error %v, want both clashing metrics named", err)
	}
	var got bytes.Buffer
	if err := e.WriteText(&got, textFormat); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got.String(), "clash") || strings.Contains(got.String(), "own_cluster") || !strings.Contains(got.String(), `zzz_last_total{cluster="a"} 3`) {
		t.Errorf("exposition:\n%s", got.String())
	}
}
