package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

func execEvent(cgroup string, pid uint32, args ...string) *pb.Event {
	return &pb.Event{
		Time: timestamppb.Now(), Kind: "exec", Workload: &pb.Workload{Cgroup: cgroup},
		Process: &pb.Process{Pid: pid, Ppid: 1, Uid: 1000, Comm: "sh"},
		Detail: &pb.Event_Exec{Exec: &pb.ExecDetail{
			Filename: "/bin/sh", Path: "/usr/bin/dash", ParentPath: "/usr/bin/bash", Args: args,
		}},
	}
}

func eventOf(e *pb.Event) *pb.WatchEventsResponse {
	return &pb.WatchEventsResponse{Item: &pb.WatchEventsResponse_Event{Event: e}}
}

// trailLines are the rows of the trace view's list.
func trailLines(m *Model) []string {
	lines := strings.Split(m.View(), "\n")
	return lines[2 : 2+m.pageRows()]
}

// l on a workload opens its events from a stream the agent filters to its
// cgroup; what the event stream brought before is there too; Esc goes back
// and closes the stream.
func TestTrailStreamsTheWorkloadsEvents(t *testing.T) {
	requests := make(chan *pb.WatchEventsRequest, 4)
	closed := make(chan struct{})
	c := &fakeClient{
		workloads: []*pb.WorkloadFigures{workload("shop", "web", "/kubepods/a"), workload("shop", "db", "/kubepods/b")},
		watch: func(ctx context.Context, req *pb.WatchEventsRequest, fn func(*pb.WatchEventsResponse) error) error {
			requests <- req
			fn(eventOf(execEvent("/kubepods/b", 2, "sh", "-c", "echo new")))
			// The same cgroup path on another node is another workload.
			other := execEvent("/kubepods/b", 3, "sh", "-c", "elsewhere")
			other.Workload.Node = "node-2"
			fn(eventOf(other))
			<-ctx.Done()
			close(closed)
			return nil
		},
	}
	m := newModel(t, c)
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 24})
	load(m, time.Now())
	m.addEvent(execEvent("/kubepods/b", 1, "sh", "-c", "echo old")) // from the event stream
	m.addEvent(execEvent("/kubepods/a", 9, "sh", "-c", "not db"))
	press(m, "/", "shop", "enter") // the list's filter: not applied to the trail, given back after it
	cmd := press(m, "l")           // shop/db sorts first
	if m.view != trailView || m.trail.workload.GetCgroup() != "/kubepods/b" {
		t.Fatalf("l opened view %v", m.view)
	}
	if req := <-requests; req.GetFilter().GetCgroup() != "/kubepods/b" || len(req.GetKinds()) != 0 {
		t.Fatalf("trace stream asked for %v, want every kind of /kubepods/b", req)
	}
	m.Update(cmd())
	m.Update(m.trail.stream.next()())
	rows := trailLines(m)
	want := []string{`/usr/bin/dash -c "echo old"  parent=/usr/bin/bash`, `/usr/bin/dash -c "echo new"  parent=/usr/bin/bash`}
	for i, w := range want {
		if !strings.HasSuffix(rows[i], w) || !strings.Contains(rows[i], fmt.Sprintf(" exec   %7d  1000 sh", i+1)) {
			t.Errorf("row %d = %q, want pid %d, uid 1000, comm sh and %q", i, rows[i], i+1, w)
		}
	}
	if rows[2] != "" {
		t.Errorf("row 3 = %q: want only db's two events", rows[2])
	}
	if title := strings.Split(m.View(), "\n")[0]; !strings.Contains(title, "events of shop/db") {
		t.Errorf("title %q does not name the workload", title)
	}
	if m.cursor != 1 {
		t.Errorf("cursor on %d, want the newest event", m.cursor)
	}
	stream := m.trail.stream
	press(m, "esc")
	if m.view != workloadsView || m.trail != nil || strings.Join(m.words, " ") != "shop" || len(m.visible) != 2 {
		t.Fatalf("esc left view %v, filter %v on %d rows; want the workloads filtered by shop", m.view, m.words, len(m.visible))
	}
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("leaving the view did not close its stream")
	}
	if _, cmd := m.Update(eventMsg{s: stream, msg: eventOf(execEvent("/kubepods/b", 4))}); cmd != nil || len(m.events) != 2 {
		t.Fatal("a closed stream's event was taken")
	}
}

// Workloads write what they like into arguments, paths and names: the view
// escapes it, keeps one line per event and the screen's size.
func TestTrailEscapesHostileStrings(t *testing.T) {
	m := newModel(t, &fakeClient{workloads: []*pb.WorkloadFigures{workload("shop", "web", "/kubepods/a")}})
	load(m, time.Now())
	m.openTrail(m.rows[0].f.GetWorkload())
	e := execEvent("/kubepods/a", 7, "x", "\x1b[2J", "a\nb", "\x1b]0;owned\a")
	e.Process.Comm = "\x1b[31mred"
	e.GetExec().Path, e.GetExec().ParentPath = "/tmp/\x1b[H", "/p\r\n"
	m.Update(eventMsg{s: m.trail.stream, msg: eventOf(e)})
	m.Update(tea.WindowSizeMsg{Width: 200, Height: 24})
	view := m.View()
	for _, raw := range []string{"\x1b[2J", "\x1b]0", "\x1b[H", "\x1b[31m", "\a", "\r", "a\nb"} {
		if strings.Contains(view, raw) {
			t.Errorf("view carries %q raw:\n%s", raw, view)
		}
	}
	row := trailLines(m)[0]
	want := `"/tmp/\x1b[H" "\x1b[2J" "a\nb" "\x1b]0;owned\a"  parent="/p\r\n"`
	if !strings.HasSuffix(row, want) || !strings.Contains(row, `\x1b[31mred`) {
		t.Errorf("row %q, want the comm escaped and the command line %q", row, want)
	}
	if lines := strings.Split(view, "\n"); len(lines) != 24 {
		t.Errorf("view has %d lines, want 24:\n%s", len(lines), view)
	}
	// The pane under the list shows the selected event in full.
	m.Update(tea.WindowSizeMsg{Width: 60, Height: 24})
	lines := strings.Split(m.View(), "\n")
	pane := strings.Join(lines[len(lines)-1-trailPaneLines:len(lines)-1], "")
	if !strings.Contains(pane, "pid 7 ppid 1 uid 1000 comm \\x1b[31mred") || !strings.Contains(pane, `"/tmp/\x1b[H" "\x1b[2J"`) {
		t.Errorf("pane %q lacks the process or the command line", pane)
	}
	for i, l := range lines {
		if w := len([]rune(stripANSI(l))); w > 60 {
			t.Errorf("line %d is %d cells wide: %q", i, w, l)
		}
	}
}

// The trail keeps the newest trailEvents; a cursor on the newest follows,
// one moved up stays on its event.
func TestTrailKeepsTheNewest(t *testing.T) {
	m := newModel(t, &fakeClient{workloads: []*pb.WorkloadFigures{workload("shop", "web", "/kubepods/a")}})
	load(m, time.Now())
	m.openTrail(m.rows[0].f.GetWorkload())
	send := func(n int) {
		m.Update(eventMsg{s: m.trail.stream, msg: eventOf(execEvent("/kubepods/a", uint32(n)))})
	}
	for i := range trailEvents + 100 {
		send(i)
	}
	pid := func(line int) uint32 { return m.trail.events[m.visible[line]].e.GetProcess().GetPid() }
	if n := len(m.trail.events); n != trailEvents || pid(0) != 100 || pid(trailEvents-1) != trailEvents+99 {
		t.Fatalf("trail holds %d events, %d to %d; want the newest %d", n, pid(0), pid(n-1), trailEvents)
	}
	if pid(m.cursor) != trailEvents+99 {
		t.Fatalf("cursor on pid %d, want the newest", pid(m.cursor))
	}
	press(m, "k", "k")
	send(trailEvents + 100)
	if pid(m.cursor) != trailEvents+97 {
		t.Fatalf("cursor moved to pid %d, want it to stay on %d", pid(m.cursor), trailEvents+97)
	}
	press(m, "G")
	send(trailEvents + 101)
	if pid(m.cursor) != trailEvents+101 {
		t.Fatalf("after G the cursor is on pid %d, want the newest", pid(m.cursor))
	}
	// '/' narrows the trail like any list.
	press(m, "/", "/usr/bin/dash", "enter")
	if len(m.visible) != trailEvents {
		t.Fatalf("filter on the path kept %d of %d", len(m.visible), trailEvents)
	}
	press(m, "esc") // clears the filter first
	if m.view != trailView {
		t.Fatal("esc with a filter left the view")
	}
	press(m, "esc")
	if m.view != workloadsView {
		t.Fatalf("second esc: view %v", m.view)
	}
}

// A failed trace stream shows its error in the view and is reopened.
func TestTrailStreamReopened(t *testing.T) {
	var calls int
	c := &fakeClient{
		workloads: []*pb.WorkloadFigures{workload("shop", "web", "/kubepods/a")},
		watch: func(ctx context.Context, _ *pb.WatchEventsRequest, fn func(*pb.WatchEventsResponse) error) error {
			calls++
			if calls == 1 {
				fn(dropsResponse(5))
				return errors.New("agent restarted")
			}
			fn(eventOf(execEvent("/kubepods/a", 1, "true")))
			<-ctx.Done()
			return nil
		},
	}
	m := newModel(t, c)
	m.retryMin, m.retryMax = time.Millisecond, time.Millisecond
	load(m, time.Now())
	cmd := press(m, "l")
	for range 3 { // drops, failure, the reopened stream's event
		m.Update(cmd())
		if m.trail.stream.err != nil {
			lines := strings.Split(m.View(), "\n")
			if f := lines[len(lines)-1]; !strings.Contains(f, "event stream: agent restarted (reopening)") {
				t.Fatalf("footer %q, want the stream's error", f)
			}
		}
		cmd = m.trail.stream.next()
	}
	lines := strings.Split(m.View(), "\n")
	if f := lines[len(lines)-1]; m.trail.stream.err != nil || len(m.trail.events) != 1 || !strings.Contains(f, "events dropped: 5 ") || !strings.Contains(f, "Esc back") {
		t.Fatalf("after reopening: %d events, err %v, footer %q", len(m.trail.events), m.trail.stream.err, f)
	}
}

// The detail view lists the workload's events as the trace view does; l
// there opens the same workload's events, and Esc returns to the detail,
// then to the list.
func TestTrailFromDetail(t *testing.T) {
	m := newModel(t, &fakeClient{workloads: []*pb.WorkloadFigures{workload("shop", "web", "/kubepods/a")}})
	load(m, time.Now())
	m.addEvent(execEvent("/kubepods/a", 5, "sh", "-c", "ls"))
	press(m, "enter")
	if view := m.View(); !strings.Contains(view, " exec         5 sh              /usr/bin/dash -c ls  parent=") {
		t.Errorf("the detail's events lack the command line:\n%s", view)
	}
	press(m, "l")
	if m.view != trailView || m.trail.workload.GetCgroup() != "/kubepods/a" {
		t.Fatalf("l in the detail view: view %v", m.view)
	}
	press(m, "esc")
	if m.view != detailView {
		t.Fatalf("esc from the trail: view %v, want the detail", m.view)
	}
	press(m, "esc")
	if m.view != workloadsView {
		t.Fatalf("esc from the detail: view %v", m.view)
	}
	press(m, "?")
	if !strings.Contains(m.View(), "l            live events of the selected workload") {
		t.Error("help does not list l")
	}
}
