package insights

import (
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
