package tui

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/orb8/orb8/internal/insights"
)

// Insights reads what the Insights view shows from the history in
// Prometheus (internal/insights): requests per container and the
// regressions of recent rollouts.
type Insights interface {
	Recommend(ctx context.Context) ([]insights.Recommendation, error)
	Regressions(ctx context.Context) ([]insights.Comparison, error)
	// About says where the history comes from and over which windows.
	About() string
}

// insightsEvery is how often the Insights view asks again: its queries
// read days of history, and the answer moves by the hour.
const insightsEvery = 5 * time.Minute

// insightRow is one line of the Insights view: a regression or a
// container's recommended requests.
type insightRow struct {
	kind   string // "regression" or "requests"
	name   string // the workload, kind/name or pod
	what   string
	search string
	value  any // the insight itself, for export
}

type insightsMsg struct {
	rows []insightRow
	at   time.Time
}

// fetchInsights asks for the regressions and recommendations, unless the
// last answer is recent: then it is shown again.
func (m *Model) fetchInsights() tea.Cmd {
	src := m.opts.Insights
	if src == nil {
		return func() tea.Msg { return insightsMsg{} }
	}
	if !m.insightsAt.IsZero() && time.Since(m.insightsAt) < insightsEvery {
		rows, at := m.insights, m.insightsAt
		return func() tea.Msg { return insightsMsg{rows: rows, at: at} }
	}
	return func() tea.Msg {
		// Days of history: Prometheus takes longer than an agent.
		ctx, cancel := context.WithTimeout(m.ctx, max(m.opts.Timeout, time.Minute))
		defer cancel()
		regs, err := src.Regressions(ctx)
		if err != nil {
			return errMsg{fmt.Errorf("insights: %w", err)}
		}
		recs, err := src.Recommend(ctx)
		if err != nil {
			return errMsg{fmt.Errorf("insights: %w", err)}
		}
		return insightsMsg{rows: insightRows(regs, recs), at: time.Now()}
	}
}

// insightRows puts regressions first, then each container's requests.
func insightRows(regs []insights.Comparison, recs []insights.Recommendation) []insightRow {
	var rows []insightRow
	for _, c := range regs {
		if c.Verdict != insights.VerdictRegression {
			continue
		}
		change := fmt.Sprintf("%+.3g", c.Change)
		if c.ChangeRelative != nil {
			change = fmt.Sprintf("%+.1f%%", *c.ChangeRelative*100)
		}
		what := fmt.Sprintf("%s %s (p %.2g) after %s, %s -> %s", c.Metric, change, c.PValue,
			c.RolloutAt.Local().Format("Jan 2 15:04"), c.From, c.To)
		rows = append(rows, newInsightRow("regression", c.Workload, what, c))
	}
	for _, r := range recs {
		what := fmt.Sprintf("cpu %s, memory %s", requestChange(r.Current.CPURequestCores, r.CPURequestCores, insights.CPUQuantity),
			requestChange(r.Current.MemoryRequestBytes, r.MemoryRequestBytes, insights.MemoryQuantity))
		if n := len(r.Risks); n > 0 {
			what += fmt.Sprintf("; %d risks: %s", n, strings.Join(r.Risks, "; "))
		}
		rows = append(rows, newInsightRow("requests", r.Workload, what, r))
	}
	return rows
}

func newInsightRow(kind string, w insights.Workload, what string, value any) insightRow {
	name := w.Name()
	if w.Container != "" {
		name += "/" + w.Container
	}
	if w.Namespace != "" {
		name = w.Namespace + "/" + name
	}
	search := strings.ToLower(strings.Join([]string{kind, name, w.Pod, w.Cgroup, w.Node, what}, " "))
	return insightRow{kind: kind, name: name, what: what, search: search, value: value}
}

// requestChange is "now -> recommended", or the recommendation alone.
func requestChange(now *float64, rec float64, quantity func(float64) string) string {
	if now == nil {
		return quantity(rec)
	}
	return quantity(*now) + " -> " + quantity(rec)
}

// insightItems are the insights as plain JSON values, for export.
func insightItems(rows []insightRow, visible []int) ([]any, error) {
	items := make([]any, 0, len(visible))
	for _, i := range visible {
		data, err := json.Marshal(rows[i].value)
		if err != nil {
			return nil, err
		}
		var v map[string]any
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, err
		}
		v["insight"] = rows[i].kind
		items = append(items, v)
	}
	return items, nil
}

// insightsAbout is the Insights view's footer note: where its history
// comes from, or how to get one.
func (m *Model) insightsAbout() string {
	if m.opts.Insights == nil {
		return "no history: orb8 top --prometheus URL"
	}
	about := m.opts.Insights.About()
	if !m.insightsAt.IsZero() {
		about += ", as of " + m.insightsAt.Local().Format("15:04")
	}
	return about
}
