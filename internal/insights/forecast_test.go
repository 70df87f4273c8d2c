package insights

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/insights/promtest"
)

// TestForecastWeeklyPattern: three weeks of a workload whose load follows
// a daily wave halved on weekends, with 3% noise per 5-minute sample. The
// weekly season wins on the held-out day; the held-out error, and the next
// day's error against the noise-free truth, of CPU (all pods) and of the
// request rate are within 3% (WAPE); the replicas needed at a 70% target
// follow from the forecast peak and the pods' 0.25-core requests, and
// exceed the HPA's maxReplicas (from kube-state-metrics series).
func TestForecastWeeklyPattern(t *testing.T) {
	w, err := NewWindow(historyEnd, 21*24*time.Hour, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fcs, err := Forecasts(t.Context(), source(t), ForecastOptions{
		Filter: Filter{Namespace: "seasonal"}, Window: w, Horizon: 24 * time.Hour, TargetUtilization: 0.7,
	})
	if err != nil {
		t.Fatal(err)
	}
	byMetric := map[string]Forecast{}
	for _, f := range fcs {
		byMetric[f.Metric] = f
	}
	cpu, ok := byMetric[MetricCPU]
	if !ok || len(fcs) != 2 {
		t.Fatalf("forecasts %+v: want cpu and requests of Deployment/shop", fcs)
	}
	// Truth at a point T: the mean over the hour before it (rate over 1h
	// of 5-minute samples), noise-free.
	truth := func(T time.Time, of func(time.Time) float64) float64 {
		s := 0.0
		for k := 1; k <= 12; k++ {
			s += of(T.Add(-time.Duration(k) * promtest.WeeklyStep))
		}
		return s / 12
	}
	for _, c := range []struct {
		f  Forecast
		of func(time.Time) float64
	}{
		{cpu, func(t time.Time) float64 { return promtest.WeeklyCPU(promtest.WeeklyRate(t)) }},
		{byMetric[MetricRequests], promtest.WeeklyRate},
	} {
		if c.f.Season != "1w" || c.f.OwnerName != "shop" || len(c.f.Points) != 24 {
			t.Errorf("%s: season %s, owner %s, %d points; want 1w, shop, 24", c.f.Metric, c.f.Season, c.f.OwnerName, len(c.f.Points))
		}
		var got, want []float64
		for _, p := range c.f.Points {
			got = append(got, p.V)
			want = append(want, truth(p.T, c.of))
		}
		e := wape(got, want)
		t.Logf("%s: season %s, held-out error %.4f (seasonal naive %.4f), next-day error against the truth %.4f, peak %.3f at %s",
			c.f.Metric, c.f.Season, c.f.HoldoutError, c.f.NaiveError, e, c.f.Peak, c.f.PeakAt.Format(time.RFC3339))
		if e > 0.03 || c.f.HoldoutError > 0.03 {
			t.Errorf("%s: next-day error %.4f, held-out error %.4f; want both <= 0.03", c.f.Metric, e, c.f.HoldoutError)
		}
	}
	if cpu.Replicas != promtest.WeeklyReplicasNow || cpu.CPURequestPerPod == nil || *cpu.CPURequestPerPod != promtest.WeeklyCPURequest {
		t.Fatalf("replicas %d, request per pod %v; want %d, %v", cpu.Replicas, cpu.CPURequestPerPod, promtest.WeeklyReplicasNow, promtest.WeeklyCPURequest)
	}
	want := int(math.Ceil(cpu.Peak / (0.7 * promtest.WeeklyCPURequest)))
	if cpu.ReplicasNeeded == nil || *cpu.ReplicasNeeded != want {
		t.Errorf("replicas needed %v, want ceil(%.3f / 0.175) = %d", cpu.ReplicasNeeded, cpu.Peak, want)
	}
	// The next day's peak depends on when the test runs (the history ends
	// now): a weekday's needs more replicas than the HPA allows, a
	// weekend's (halved) fewer.
	advice := fmt.Sprintf("the HPA's maxReplicas %d is below the %d the forecast peak needs", promtest.WeeklyHPAMax, want)
	if want <= promtest.WeeklyHPAMax {
		advice = fmt.Sprintf("the HPA (%d-%d) covers the %d the forecast peak needs", promtest.WeeklyHPAMin, promtest.WeeklyHPAMax, want)
	}
	if cpu.HPAMinReplicas == nil || *cpu.HPAMinReplicas != promtest.WeeklyHPAMin || cpu.HPAMaxReplicas == nil || *cpu.HPAMaxReplicas != promtest.WeeklyHPAMax ||
		cpu.Advice != advice {
		t.Errorf("HPA %v-%v, advice %q; want %d-%d and %q", cpu.HPAMinReplicas, cpu.HPAMaxReplicas, cpu.Advice,
			promtest.WeeklyHPAMin, promtest.WeeklyHPAMax, advice)
	}
	t.Logf("replicas: %d now, %d needed: %s", cpu.Replicas, *cpu.ReplicasNeeded, cpu.Advice)
}
