package ask

import (
	"math"
	"os"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/insights"
	"github.com/orb8/orb8/internal/insights/promtest"
)

// prom serves every generated history, ending at historyEnd.
var prom, historyEnd = promtest.SharedAll()

func TestMain(m *testing.M) {
	code := m.Run()
	prom.Stop()
	os.Exit(code)
}

func ask(t *testing.T, question string) Answer {
	t.Helper()
	q, err := Parse(question)
	if err != nil {
		t.Fatal(err)
	}
	src, err := insights.NewClient(prom.Get(t).URL, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Run(t.Context(), q, Env{Source: src, End: historyEnd, Prices: insights.Prices{CPUCoreHour: 0.04, MemoryGiBHour: 0.005, GPUHour: 2}})
	if err != nil {
		t.Fatalf("%q (%v): %v", question, q, err)
	}
	t.Logf("%q -> %v", question, a.Query)
	return a
}

// TestAskAnswersFromHistory asks the example questions of a real
// Prometheus holding generated history with known answers.
func TestAskAnswersFromHistory(t *testing.T) {
	// The DNS history: cart-1 fails 120 lookups an hour, web-1 30, db-1 none.
	a := ask(t, "which pods in shop had the most DNS failures in the last hour")
	if len(a.Rank) != 3 || a.Rank[0].Pod != "cart-1" || a.Rank[1].Pod != "web-1" || a.Rank[2].Pod != "db-1" {
		t.Fatalf("rank %+v, want cart-1, web-1, db-1", a.Rank)
	}
	for _, r := range a.Rank {
		if want := promtest.DNSFailuresPerHour[r.Pod]; math.Abs(r.Value-want) > 0.01*want+1e-9 {
			t.Errorf("%s: %.2f failed lookups, want %v", r.Pod, r.Value, want)
		}
	}

	// The Pricing history: web costs $0.025 an hour at these prices.
	a = ask(t, "what would web cost per month")
	if len(a.Cost) != 1 || a.Cost[0].OwnerName != "web" {
		t.Fatalf("cost %+v, want web's", a.Cost)
	}
	if got := PerPeriod(a.Cost[0], a.Query.Per); math.Abs(got-0.025*730) > 1e-6 {
		t.Errorf("web per month $%.6f, want $%.2f (0.5 cores x $0.04 + 1 GiB x $0.005 an hour, 730 hours)", got, 0.025*730)
	}

	// The Rollouts history: checkout's rollout added 30% latency.
	a = ask(t, "did the last rollout of checkout slow it down")
	regressed := false
	for _, c := range a.Comparisons {
		if c.OwnerName != "checkout" {
			t.Errorf("comparison of %s", c.OwnerName)
		}
		if c.Metric == "http_latency_seconds" && c.Verdict == insights.VerdictRegression {
			regressed = true
		}
	}
	if !regressed {
		t.Errorf("comparisons %+v: want checkout's latency regression", a.Comparisons)
	}

	a = ask(t, "how many replicas will shop need tomorrow")
	if len(a.Forecasts) != 1 || a.Forecasts[0].Metric != insights.MetricCPU || a.Forecasts[0].ReplicasNeeded == nil {
		t.Fatalf("forecasts %+v: want shop's CPU forecast with replicas", a.Forecasts)
	}

	a = ask(t, "how much cpu should api request")
	if len(a.Recommendations) != 1 || a.Recommendations[0].CPURequestCores < 0.5 || a.Recommendations[0].CPURequestCores > 0.8 {
		t.Fatalf("recommendations %+v: want api's, 0.5-0.8 cores", a.Recommendations)
	}

	a = ask(t, "how much cpu does api use")
	if len(a.Rank) != 1 || a.Rank[0].OwnerName != "api" || math.Abs(a.Rank[0].Value-0.5) > 0.02 {
		t.Fatalf("rank %+v: want api at ~0.5 cores", a.Rank)
	}
}
