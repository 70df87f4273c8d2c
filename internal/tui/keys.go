package tui

import (
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// key handles one key press.
func (m *Model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if m.filtering {
		return m.filterKey(k)
	}
	if m.help {
		m.help = false
		if k.String() != "q" && k.String() != "ctrl+c" {
			return m, nil
		}
	}
	switch k.String() {
	case "q", "ctrl+c":
		m.cancel()
		return m, tea.Quit
	case "?":
		m.help = true
	case "/":
		m.filtering = true
		m.filter.SetValue(strings.Join(m.words, " "))
		m.filter.CursorEnd()
		return m, m.filter.Focus()
	case "tab":
		if m.view < views {
			return m, m.switchView((m.view + 1) % views)
		}
	case "shift+tab":
		if m.view < views {
			return m, m.switchView((m.view + views - 1) % views)
		}
	case "1", "2", "3", "4", "5", "6", "7":
		m.reqScope = nil
		return m, m.switchView(view(k.String()[0] - '1'))
	case "s":
		if m.view == workloadsView {
			m.sort = (m.sort + 1) % sortKeys
			sortRows(m.rows, m.sort)
			m.applyFilter()
		}
	case "up", "k":
		m.cursor--
	case "down", "j":
		m.cursor++
	case "pgup":
		m.cursor -= m.pageRows()
	case "pgdown", " ":
		m.cursor += m.pageRows()
	case "home", "g":
		m.cursor = 0
	case "end", "G":
		m.cursor = len(m.visible) - 1
	case "enter":
		return m, m.drill()
	case "l":
		if f := m.selected(); f != nil {
			return m, m.openTrail(f.GetWorkload())
		}
	case "r":
		if f := m.selected(); f != nil && m.view != requestsView {
			return m, m.openRequests(f.GetWorkload())
		}
	case "esc", "backspace":
		if m.view == trailView && len(m.words) == 0 {
			return m, m.switchView(m.trail.back)
		}
		if m.view == detailView {
			m.detail = nil
			return m, m.switchView(m.back)
		}
		if m.view == requestsView && m.reqScope != nil && len(m.words) == 0 {
			m.reqScope = nil
			return m, m.switchView(m.reqBack)
		}
		if len(m.words) > 0 {
			m.words = nil
			m.applyFilter()
		}
	case "e":
		m.export("json")
	case "E":
		m.export("yaml")
	}
	m.clampCursor()
	return m, nil
}

// filterKey edits the filter; Enter applies it, Esc clears it.
func (m *Model) filterKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch k.String() {
	case "enter":
		m.filtering = false
		m.filter.Blur()
		m.words = strings.Fields(strings.ToLower(m.filter.Value()))
		m.cursor, m.offset = 0, 0
		m.applyFilter()
		return m, nil
	case "esc":
		m.filtering = false
		m.filter.Blur()
		m.words = nil
		m.applyFilter()
		return m, nil
	case "ctrl+c":
		m.cancel()
		return m, tea.Quit
	}
	var cmd tea.Cmd
	m.filter, cmd = m.filter.Update(k)
	return m, cmd
}

// selected is the workload under the cursor (in the workloads, flows, DNS,
// events or requests view) or the one the detail view shows; nil elsewhere.
func (m *Model) selected() *pb.WorkloadFigures {
	if m.view == detailView {
		return m.detail.figures
	}
	if m.cursor >= len(m.visible) {
		return nil
	}
	i := m.visible[m.cursor]
	switch m.view {
	case workloadsView:
		return m.rows[i].f
	case flowsView:
		return &pb.WorkloadFigures{Workload: m.flows[i].GetWorkload()}
	case dnsView:
		return &pb.WorkloadFigures{Workload: m.dns[i].GetWorkload()}
	case eventsView:
		return &pb.WorkloadFigures{Workload: m.events[i].GetWorkload()}
	case requestsView:
		return &pb.WorkloadFigures{Workload: m.requests[i].r.GetWorkload()}
	}
	return nil
}

// drill opens the detail view of the selected workload.
func (m *Model) drill() tea.Cmd {
	f := m.selected()
	if f == nil || m.view == detailView {
		return nil
	}
	m.back = m.view
	m.detail = &detail{figures: f}
	for _, e := range m.events {
		if sameWorkload(e.GetWorkload(), f.GetWorkload()) {
			m.detail.events = append(m.detail.events, e)
		}
	}
	m.view, m.cursor, m.offset = detailView, 0, 0
	m.inflight = true
	return m.fetchDetail(f)
}
