package tui

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/orb8/orb8/internal/insights"
)

// fakeInsights answers with fixed insights and counts the questions.
type fakeInsights struct {
	recs  []insights.Recommendation
	regs  []insights.Comparison
	err   error
	calls int
}

func (f *fakeInsights) Recommend(context.Context) ([]insights.Recommendation, error) {
	return f.recs, f.err
}
func (f *fakeInsights) Regressions(context.Context) ([]insights.Comparison, error) {
	f.calls++
	return f.regs, f.err
}
func (f *fakeInsights) About() string { return "http://prom:9090" }

func TestInsightsViewShowsRegressionsThenRequests(t *testing.T) {
	cpuNow, memNow, rel := 1.0, 512.0*(1<<20), 0.3
	web := insights.Workload{Namespace: "shop", OwnerKind: "Deployment", OwnerName: "web", Pod: "web-1", Container: "app"}
	checkout := insights.Workload{Namespace: "shop", OwnerKind: "Deployment", OwnerName: "checkout", Pod: "checkout-2", Container: "app"}
	src := &fakeInsights{
		recs: []insights.Recommendation{{Workload: web, CPURequestCores: 0.629, MemoryRequestBytes: 288 << 20,
			Current: insights.Resources{CPURequestCores: &cpuNow, MemoryRequestBytes: &memNow}}},
		regs: []insights.Comparison{
			{Workload: checkout, Metric: "http_latency_seconds", ChangeRelative: &rel, PValue: 4e-21, From: "checkout:1", To: "checkout:2", Verdict: insights.VerdictRegression},
			{Workload: web, Metric: "memory_bytes", Verdict: insights.VerdictNoChange},
		},
	}
	m := New(&fakeClient{}, Options{ExportDir: t.TempDir(), Source: "test", Insights: src})
	t.Cleanup(m.cancel)
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 24})
	m.Update(press(m, "6")())
	view := m.View()
	if m.view != insightsView || len(m.visible) != 2 {
		t.Fatalf("view %v, %d rows:\n%s", m.view, len(m.visible), view)
	}
	for _, want := range []string{"[6 Insights]", "shop/Deployment/checkout/app", "http_latency_seconds +30.0% (p 4e-21)",
		"shop/Deployment/web/app", "cpu 1 -> 629m, memory 512Mi -> 288Mi", "http://prom:9090"} {
		if !strings.Contains(view, want) {
			t.Errorf("view lacks %q:\n%s", want, view)
		}
	}
	if strings.Index(view, "regression") > strings.Index(view, "requests") {
		t.Errorf("regressions are not first:\n%s", view)
	}
	if strings.Contains(view, "memory_bytes") {
		t.Errorf("a comparison without change is shown:\n%s", view)
	}

	// The next refreshes show the same answer without asking again.
	m.Update(m.refresh()())
	if src.calls != 1 {
		t.Errorf("%d questions within %v, want 1", src.calls, insightsEvery)
	}

	press(m, "/", "checkout", "enter")
	if len(m.visible) != 1 {
		t.Fatalf("filter checkout: %d rows", len(m.visible))
	}
	press(m, "e")
	files, _ := filepath.Glob(filepath.Join(m.opts.ExportDir, "orb8-insights-*.json"))
	if len(files) != 1 {
		t.Fatalf("export files %v; status %q", files, m.status)
	}
	data, _ := os.ReadFile(files[0])
	var items []map[string]any
	if err := json.Unmarshal(data, &items); err != nil || len(items) != 1 || items[0]["insight"] != "regression" ||
		items[0]["owner_name"] != "checkout" || items[0]["p_value"] != 4e-21 {
		t.Fatalf("export = %s (%v)", data, err)
	}
	if cmd := press(m, "enter"); cmd != nil {
		t.Error("enter on an insight drills somewhere")
	}
}

func TestInsightsViewWithoutPrometheusSaysHow(t *testing.T) {
	m := newModel(t, &fakeClient{})
	m.Update(press(m, "6")())
	if view := m.View(); !strings.Contains(view, "orb8 top --prometheus URL") || len(m.visible) != 0 {
		t.Fatalf("view without a history source:\n%s", view)
	}
}

func TestInsightsErrorShowsAndAsksAgain(t *testing.T) {
	src := &fakeInsights{err: errors.New("bad_data: parse error")}
	m := New(&fakeClient{}, Options{ExportDir: t.TempDir(), Source: "test", Insights: src})
	t.Cleanup(m.cancel)
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 24})
	m.Update(press(m, "6")())
	if view := m.View(); !strings.Contains(view, "error: insights: bad_data: parse error") {
		t.Fatalf("view:\n%s", view)
	}
	src.err = nil
	m.Update(m.refresh()())
	if src.calls != 2 || m.err != nil || m.insightsAt.IsZero() {
		t.Fatalf("after a failure: %d calls, err %v", src.calls, m.err)
	}
	if time.Since(m.insightsAt) > time.Minute {
		t.Fatalf("insights from %v", m.insightsAt)
	}
}
