package insights

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/insights/promtest"
)

// TestRecommendAcceptance: six hours of one workload (CPU 0.4-0.6 cores,
// memory 180-220 MiB with one 250 MiB peak). The CPU request is the P90 of
// the demand plus 15%: the 1-minute rates of a uniform 0.4-0.6 spread
// around 0.5 with P90 at ~0.55, so 0.6-0.7 cores; memory is the 250 MiB
// peak plus 15%: 287.5 MiB, rounded up to 288 MiB.
func TestRecommendAcceptance(t *testing.T) {
	o := DefaultRecommend
	o.Window = window(t, 6*time.Hour)
	o.Filter = Filter{Namespace: "accept"}
	recs, err := Recommend(t.Context(), source(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d recommendations, want 1: %+v", len(recs), recs)
	}
	r := recs[0]
	t.Logf("cpu %.3f cores (p50 %.3f p90 %.3f max %.3f), memory %.1f MiB (peak %.1f MiB), %d samples, bounds cpu %.3f-%.3f memory %.0f-%.0f MiB",
		r.CPURequestCores, r.Evidence.CPUP50Cores, r.Evidence.CPUTargetCores, r.Evidence.CPUMaxCores,
		r.MemoryRequestBytes/promtest.MiB, r.Evidence.MemoryPeakBytes/promtest.MiB, r.Evidence.Samples,
		r.CPULowerCores, r.CPUUpperCores, r.MemoryLowerBytes/promtest.MiB, r.MemoryUpperBytes/promtest.MiB)
	p := promtest.AcceptancePod
	if r.Namespace != p.Namespace || r.Pod != p.Name || r.Container != p.Container || r.Cgroup != p.Cgroup() ||
		r.OwnerKind != "Deployment" || r.OwnerName != "api" || r.Pods != 1 {
		t.Errorf("workload %+v, want %+v owned by Deployment/api", r.Workload, p)
	}
	if r.CPURequestCores < 0.6 || r.CPURequestCores > 0.7 {
		t.Errorf("cpu request %.3f cores, want 0.6-0.7 (P90 of 0.4-0.6, +15%%)", r.CPURequestCores)
	}
	if r.MemoryRequestBytes != 288*promtest.MiB {
		t.Errorf("memory request %.1f MiB, want 288 (250 MiB peak +15%%, rounded up)", r.MemoryRequestBytes/promtest.MiB)
	}
	if r.Evidence.MemoryPeakBytes != 250*promtest.MiB || r.Evidence.Samples != 360 {
		t.Errorf("evidence %+v: want the 250 MiB peak and 360 one-minute samples", r.Evidence)
	}
	if r.Current.CPURequestCores == nil || *r.Current.CPURequestCores != 0.25 || r.CPUChangeCores == nil || *r.CPUChangeCores <= 0 || len(r.Risks) < 2 {
		t.Errorf("against the current 0.25 cores / 128 MiB: change %v, risks %q", r.CPUChangeCores, r.Risks)
	}
}

// fakeSource answers each query with the series of the first metric
// name the expression contains (nothing for the rest).
type fakeSource map[string][]Series

func (f fakeSource) answer(expr string) []Series {
	for metric, s := range f {
		if strings.Contains(expr, metric+"{") {
			return s
		}
	}
	return nil
}

func (f fakeSource) Range(_ context.Context, expr string, _ Window) ([]Series, error) {
	return f.answer(expr), nil
}

func (f fakeSource) Instant(_ context.Context, expr string, _ time.Time) ([]Series, error) {
	if strings.Contains(expr, "_over_time(") || strings.Contains(expr, "increase(") {
		return nil, nil
	}
	return f.answer(expr), nil
}

// TestRecommendCountsThePodsThrottling: a container capped at 0.1 cores
// whose pod's cgroup (kubelet's pod-level quota) is the one throttled
// 0.9 s a second wanted a whole core: the demand is its use plus its share
// of the pod's throttled time, not its capped use.
func TestRecommendCountsThePodsThrottling(t *testing.T) {
	end := time.Unix(1_800_000_000, 0)
	w, err := NewWindow(end, time.Hour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	series := func(cg, container string, v float64) []Series {
		s := Series{Labels: map[string]string{"namespace": "ns", "pod": "p", "container": container, "cgroup": cg}}
		for ts := w.Start.Add(w.Step); !ts.After(w.End); ts = ts.Add(w.Step) {
			s.Points = append(s.Points, Point{ts, v})
		}
		return []Series{s}
	}
	pod, ctr := "/kubepods/burstable/podu", "/kubepods/burstable/podu/c1"
	src := fakeSource{
		"orb8_cpu_usage_seconds_total":     append(series(pod, "", 0.1), series(ctr, "app", 0.1)...),
		"orb8_cpu_throttled_seconds_total": series(pod, "", 0.9),
		"orb8_memory_usage_bytes":          series(ctr, "app", 64<<20),
	}
	o := DefaultRecommend
	o.Window = w
	recs, err := Recommend(t.Context(), src, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Cgroup != ctr {
		t.Fatalf("recommendations %+v, want the container's only", recs)
	}
	r := recs[0]
	if r.CPURequestCores != 1.15 || math.Abs(r.Evidence.ThrottledRatio-0.9) > 1e-9 {
		t.Errorf("cpu request %v (want 1.15: demand 0.1 + 0.9, +15%%), throttled ratio %v (want 0.9)", r.CPURequestCores, r.Evidence.ThrottledRatio)
	}
}
