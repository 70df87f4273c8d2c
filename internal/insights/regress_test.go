package insights

import (
	"math"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/insights/promtest"
)

// TestRegressionsFoundAndNoiseNot: two Deployments rolled out three hours
// before the end, one adding 30% to its mean latency, the other 2%. The
// 30% one is a regression (p < 0.01, change >= 10%); the 2% one may be
// significant with 60 samples a side but is below the effect threshold,
// so it is not. Nothing else (errors, CPU per request, memory) changed.
func TestRegressionsFoundAndNoiseNot(t *testing.T) {
	o := DefaultRegress
	o.Window = window(t, 6*time.Hour)
	o.Filter = Filter{Namespace: "rollouts"}
	all, ro, err := Regressions(t.Context(), source(t), o)
	if err != nil {
		t.Fatal(err)
	}
	at := historyEnd.Add(-promtest.RolloutAt)
	if len(ro) != 2 {
		t.Fatalf("rollouts %+v, want checkout's and cart's", ro)
	}
	for _, r := range ro {
		if !r.At.Equal(at) || r.From != r.OwnerName+":1@6f7c9" || r.To != r.OwnerName+":2@84b2d" {
			t.Errorf("rollout %+v: want at %s from NAME:1@6f7c9 to NAME:2@84b2d", r, at)
		}
	}
	found := map[string]Comparison{}
	for _, c := range all {
		t.Logf("%s %s: %.4g -> %.4g (%+.2f%%), p=%.2g, %d/%d samples: %s", c.OwnerName, c.Metric, c.Before, c.After,
			100*deref(c.ChangeRelative), c.PValue, c.SamplesBefore, c.SamplesAfter, c.Verdict)
		found[c.OwnerName+" "+c.Metric] = c
		if c.Verdict != VerdictNoChange && !(c.OwnerName == "checkout" && c.Metric == "http_latency_seconds") {
			t.Errorf("%s %s reported as %s", c.OwnerName, c.Metric, c.Verdict)
		}
	}
	lat := found["checkout http_latency_seconds"]
	if lat.Verdict != VerdictRegression || lat.PValue >= 0.01 || math.Abs(deref(lat.ChangeRelative)-0.30) > 0.03 {
		t.Errorf("checkout latency: %+v; want a regression of ~+30%%", lat)
	}
	cart := found["cart http_latency_seconds"]
	if cart.Verdict != VerdictNoChange || math.Abs(deref(cart.ChangeRelative)-0.02) > 0.02 {
		t.Errorf("cart latency: %+v; want ~+2%%, no change reported", cart)
	}
	for _, m := range []string{"http_error_ratio", "cpu_seconds_per_request", "memory_bytes"} {
		if _, ok := found["checkout "+m]; !ok {
			t.Errorf("checkout %s not compared", m)
		}
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}
