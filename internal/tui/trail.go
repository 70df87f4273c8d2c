package tui

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/eventtext"
	"github.com/orb8/orb8/internal/humanize"
)

const (
	// trailEvents bounds the events the trace view keeps: the newest.
	trailEvents = 500
	// trailPaneLines is the height of the pane under the trace view's
	// list that shows the selected event in full.
	trailPaneLines = 4
)

// trail is the trace view (key l): the live events of one workload, newest
// at the bottom, from a stream of its own that the agent filters to the
// workload's cgroup. The stream opens with the view and closes when the
// view is left.
type trail struct {
	workload *pb.Workload
	stream   *stream
	events   []trailEvent // oldest first, at most trailEvents
	back     view         // where Esc returns
	// backWords is the '/' filter of the view left, which the trail does
	// not apply (it names workloads) and gives back.
	backWords []string
}

// trailEvent is an event with its text, written once when it arrives.
type trailEvent struct {
	e      *pb.Event
	detail string // eventtext.Detail: safe on a terminal
	search string // what '/' matches, lower case
}

func newTrailEvent(e *pb.Event) trailEvent {
	detail := eventtext.Detail(e)
	return trailEvent{e: e, detail: detail, search: strings.ToLower(e.GetKind() + " " + e.GetProcess().GetComm() + " " + detail)}
}

// add keeps e, dropping the oldest event when the trail is full.
func (t *trail) add(e *pb.Event) {
	if len(t.events) == trailEvents {
		copy(t.events, t.events[1:])
		t.events = t.events[:trailEvents-1]
	}
	t.events = append(t.events, newTrailEvent(e))
}

// openTrail shows the live events of w: those the event stream already
// brought, then what its own stream brings.
func (m *Model) openTrail(w *pb.Workload) tea.Cmd {
	filter := &pb.WorkloadFilter{Cgroup: w.GetCgroup(), Cluster: w.GetCluster()}
	t := &trail{workload: w, stream: newStream(m.ctx, &pb.WatchEventsRequest{Filter: filter}), back: m.view, backWords: m.words}
	for _, e := range m.events {
		if sameWorkload(e.GetWorkload(), w) {
			t.add(e)
		}
	}
	m.trail, m.words = t, nil
	m.view, m.offset = trailView, 0
	m.applyFilter()
	m.cursor = len(m.visible) - 1
	m.clampCursor()
	m.start(t.stream)
	return t.stream.next()
}

// leaveTrail closes the trace view's stream and gives the filter back.
func (m *Model) leaveTrail() {
	if m.trail != nil {
		m.trail.stream.cancel()
		m.words = m.trail.backWords
		m.trail = nil
	}
}

// trailMsg takes a message of the trace view's stream. A cursor on the
// newest event follows what arrives; one moved up stays where it is.
func (m *Model) trailMsg(msg tea.Msg) tea.Cmd {
	t := m.trail
	e := t.stream.take(msg)
	// With several agents the same cgroup path can be on every node.
	if e != nil && sameWorkload(e.GetWorkload(), t.workload) {
		following := m.cursor >= len(m.visible)-1
		// A full trail drops its oldest event: the cursor stays on its own.
		shifted := len(t.events) == trailEvents && len(m.visible) > 0 && m.visible[0] == 0
		t.add(e)
		m.applyFilter()
		switch {
		case following:
			m.cursor = len(m.visible) - 1
		case shifted:
			m.cursor, m.offset = max(m.cursor-1, 0), max(m.offset-1, 0)
		}
		m.clampCursor()
	}
	return t.stream.next()
}

// trailColumns are the trace view's columns and its cell reader.
func (m *Model) trailColumns() ([]column, func(i int) []string) {
	return []column{{"TIME", 12, false, false}, {"KIND", 6, false, false}, {"PID", 7, true, false}, {"UID", 5, true, false}, {"COMM", 12, false, false}, {"DETAIL", 0, false, true}},
		func(i int) []string {
			te := m.trail.events[i]
			e, p := te.e, te.e.GetProcess()
			return []string{e.GetTime().AsTime().Local().Format("15:04:05.000"), e.GetKind(), fmt.Sprint(p.GetPid()), fmt.Sprint(p.GetUid()), p.GetComm(), te.detail}
		}
}

// trailPane shows the selected event in full: its process, then its detail
// wrapped over the lines left.
func (m *Model) trailPane() string {
	lines := make([]string, trailPaneLines)
	if m.cursor < len(m.visible) {
		te := m.trail.events[m.visible[m.cursor]]
		p := te.e.GetProcess()
		lines[0] = dimStyle.Render(fit(fmt.Sprintf("%s pid %d ppid %d uid %d comm %s", te.e.GetKind(), p.GetPid(), p.GetPpid(), p.GetUid(), humanize.Safe(p.GetComm())), m.width))
		wrapped := wrap(te.detail, max(m.width, 1))
		if len(wrapped) > trailPaneLines-1 {
			wrapped = wrapped[:trailPaneLines-1]
			wrapped[len(wrapped)-1] = truncate(wrapped[len(wrapped)-1]+"…", m.width)
		}
		copy(lines[1:], wrapped)
	}
	return strings.Join(lines, "\n") + "\n"
}

// wrap cuts s into lines of width runes.
func wrap(s string, width int) []string {
	var lines []string
	for r := []rune(s); len(r) > 0; {
		n := min(width, len(r))
		lines = append(lines, string(r[:n]))
		r = r[n:]
	}
	return lines
}
