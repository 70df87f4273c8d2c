package tui

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// fakeClient answers with fixed workloads and records the filters of the
// list and watch requests.
type fakeClient struct {
	workloads []*pb.WorkloadFigures
	processes map[string][]*pb.Process
	filters   chan *pb.WorkloadFilter // nil: not recorded
	// watch, if set, serves Watch; otherwise the stream stays open and quiet.
	watch    func(ctx context.Context, req *pb.WatchEventsRequest, fn func(*pb.WatchEventsResponse) error) error
	statuses []*pb.Status
	requests []*pb.Request // every kind's: Requests keeps the kind asked for
}

func (f *fakeClient) record(filter *pb.WorkloadFilter) {
	if f.filters != nil {
		f.filters <- filter
	}
}

func (f *fakeClient) Statuses(context.Context) ([]*pb.Status, error) { return f.statuses, nil }
func (f *fakeClient) Workloads(_ context.Context, req *pb.ListWorkloadsRequest) ([]*pb.WorkloadFigures, error) {
	f.record(req.GetFilter())
	var out []*pb.WorkloadFigures
	for _, w := range f.workloads {
		if cg := req.GetFilter().GetCgroup(); cg == "" || cg == w.GetWorkload().GetCgroup() {
			out = append(out, w)
		}
	}
	return out, nil
}
func (f *fakeClient) Flows(_ context.Context, req *pb.ListFlowsRequest) ([]*pb.Flow, error) {
	f.record(req.GetFilter())
	return nil, nil
}
func (f *fakeClient) DNS(_ context.Context, req *pb.ListDNSRequest) ([]*pb.DNSQuery, error) {
	f.record(req.GetFilter())
	return nil, nil
}
func (f *fakeClient) Requests(_ context.Context, req *pb.ListRequestsRequest) ([]*pb.Request, error) {
	f.record(req.GetFilter())
	var out []*pb.Request
	for _, r := range f.requests {
		if (r.GetStatusCode() >= 500) == (req.GetKind() == "failing") {
			out = append(out, r)
		}
	}
	return out, nil
}
func (f *fakeClient) Processes(_ context.Context, _, cgroup string) ([]*pb.Process, error) {
	return f.processes[cgroup], nil
}
func (f *fakeClient) GPUs(context.Context) ([]*pb.GPU, error) { return nil, nil }
func (f *fakeClient) Watch(ctx context.Context, req *pb.WatchEventsRequest, fn func(*pb.WatchEventsResponse) error) error {
	f.record(req.GetFilter())
	if f.watch != nil {
		return f.watch(ctx, req, fn)
	}
	<-ctx.Done()
	return nil
}
func (f *fakeClient) Close() error { return nil }

func val(v float64) *float64 { return &v }

func workload(ns, pod, cgroup string) *pb.WorkloadFigures {
	return &pb.WorkloadFigures{Workload: &pb.Workload{Namespace: ns, Pod: pod, Cgroup: cgroup, Labels: map[string]string{"app": pod}}}
}

func newModel(t *testing.T, c *fakeClient) *Model {
	m := New(c, Options{ExportDir: t.TempDir(), Source: "test"})
	t.Cleanup(m.cancel)
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	return m
}

// load runs one refresh of the workloads view synchronously.
func load(m *Model, at time.Time) {
	msg := m.refresh()().(workloadsMsg)
	msg.at = at
	m.Update(msg)
}

func press(m *Model, keys ...string) tea.Cmd {
	var cmd tea.Cmd
	for _, k := range keys {
		var key tea.KeyMsg
		switch k {
		case "enter":
			key = tea.KeyMsg{Type: tea.KeyEnter}
		case "esc":
			key = tea.KeyMsg{Type: tea.KeyEsc}
		default:
			key = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		_, cmd = m.Update(key)
	}
	return cmd
}

func names(m *Model) []string {
	var out []string
	for _, i := range m.visible {
		out = append(out, m.rows[i].name)
	}
	return out
}

func TestSortsByNetworkRateAndDNSErrors(t *testing.T) {
	a, b, c := workload("shop", "web", "/a"), workload("shop", "db", "/b"), workload("", "", "/system.slice/x")
	a.NetworkTxBytesTotal, b.NetworkTxBytesTotal = val(1000), val(1000)
	a.DnsErrorsTotal, b.DnsErrorsTotal = val(1), val(9)
	fc := &fakeClient{workloads: []*pb.WorkloadFigures{a, b, c}}
	m := newModel(t, fc)
	t0 := time.Now()
	load(m, t0)
	// Two refreshes a second apart: web sent 5000 B/s, db 100 B/s.
	a.NetworkTxBytesTotal, b.NetworkTxBytesTotal = val(6000), val(1100)
	load(m, t0.Add(time.Second))
	if got := names(m); strings.Join(got, ",") != "shop/web,shop/db,/system.slice/x" {
		t.Errorf("by network rate: %v", got)
	}
	if got := *m.rows[0].netRate; got != 5000 {
		t.Errorf("web's rate = %v, want 5000", got)
	}
	press(m, "s") // DNS errors
	if got := names(m); strings.Join(got, ",") != "shop/db,shop/web,/system.slice/x" {
		t.Errorf("by DNS errors: %v", got)
	}
	if !strings.Contains(m.View(), "sort: DNS errors") {
		t.Errorf("footer does not name the sort:\n%s", m.View())
	}
}

func TestFilterDrillExportQuit(t *testing.T) {
	fc := &fakeClient{
		workloads: []*pb.WorkloadFigures{workload("shop", "web", "/kubepods/a"), workload("shop", "db", "/kubepods/b"), workload("ops", "web", "/kubepods/c")},
		processes: map[string][]*pb.Process{"/kubepods/b": {{Pid: 42, Comm: "postgres"}}},
	}
	m := newModel(t, fc)
	load(m, time.Now())
	press(m, "/", "app=db", "enter")
	if got := names(m); len(got) != 1 || got[0] != "shop/db" {
		t.Fatalf("filter app=db: %v", got)
	}
	press(m, "/", "esc")
	press(m, "/", "shop", "enter")
	if got := names(m); len(got) != 2 {
		t.Fatalf("filter shop: %v", got)
	}
	press(m, "j") // shop/web sorts after shop/db by name (no figures)
	press(m, "enter")
	if m.view != detailView || m.detail.figures.GetWorkload().GetCgroup() != "/kubepods/a" {
		t.Fatalf("enter did not drill into shop/web: view %v", m.view)
	}
	press(m, "esc")
	press(m, "k")
	m.Update(press(m, "enter")())
	view := m.View()
	if !strings.Contains(view, "Processes (1)") || !strings.Contains(view, "postgres") {
		t.Fatalf("detail lacks the process:\n%s", view)
	}
	press(m, "e")
	files, _ := filepath.Glob(filepath.Join(m.opts.ExportDir, "orb8-detail-*.json"))
	if len(files) != 1 {
		t.Fatalf("export files %v; status %q", files, m.status)
	}
	data, _ := os.ReadFile(files[0])
	var items []map[string]any
	if err := json.Unmarshal(data, &items); err != nil || len(items) != 2 || items[1]["comm"] != "postgres" {
		t.Fatalf("export = %s (%v)", data, err)
	}
	if w, _ := items[0]["workload"].(map[string]any); w == nil || w["container"] != "" {
		t.Fatalf("exported workload %v lacks its empty container", items[0]["workload"])
	}
	press(m, "esc")
	press(m, "E")
	files, _ = filepath.Glob(filepath.Join(m.opts.ExportDir, "orb8-workloads-*.yaml"))
	if len(files) != 1 {
		t.Fatalf("yaml export files %v; status %q", files, m.status)
	}
	if cmd := press(m, "q"); cmd == nil || cmd() != tea.Quit() {
		t.Fatal("q did not quit")
	}
}

func TestThousandsOfWorkloadsFit80x24(t *testing.T) {
	fc := &fakeClient{}
	for i := range 5000 {
		w := workload("ns", fmt.Sprintf("pod-%04d", i), fmt.Sprintf("/kubepods/pod%d", i))
		w.OpenFds = val(float64(i))
		fc.workloads = append(fc.workloads, w)
	}
	m := newModel(t, fc)
	load(m, time.Now())
	for range 4 {
		press(m, "s") // open fds
	}
	press(m, "G")
	view := m.View()
	lines := strings.Split(view, "\n")
	if len(lines) != 24 {
		t.Fatalf("view has %d lines, want 24", len(lines))
	}
	for i, l := range lines {
		if w := len([]rune(stripANSI(l))); w > 80 {
			t.Errorf("line %d is %d cells wide: %q", i, w, l)
		}
	}
	if !strings.Contains(view, "ns/pod-0000") || !strings.Contains(view, "5000/5000") {
		t.Errorf("end of the fds-sorted list should show the smallest:\n%s", view)
	}
	press(m, "?")
	if !strings.Contains(m.View(), "drill into the workload") {
		t.Errorf("? shows no help")
	}
}

func stripANSI(s string) string {
	var b strings.Builder
	esc := false
	for _, r := range s {
		switch {
		case r == 0x1b:
			esc = true
		case esc && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'):
			esc = false
		case !esc:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// The command's filter (-n, -l, --pod, --cgroup) reaches every list the UI
// asks for and its event stream.
func TestCommandFilterReachesEveryRequest(t *testing.T) {
	c := &fakeClient{filters: make(chan *pb.WorkloadFilter, 8)}
	want := &pb.WorkloadFilter{Namespace: "shop", Selector: "app=web"}
	m := New(c, Options{ExportDir: t.TempDir(), Filter: want})
	t.Cleanup(m.cancel)
	m.start(m.all)
	for _, v := range []view{workloadsView, flowsView, dnsView} {
		m.view = v
		m.refresh()()
	}
	for i := range 4 { // the watch and the three lists, in any order
		select {
		case got := <-c.filters:
			if got.GetNamespace() != "shop" || got.GetSelector() != "app=web" {
				t.Errorf("request %d has filter %v, want %v", i, got, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("only %d of 4 requests made", i)
		}
	}
}

func eventResponse(kind string) *pb.WatchEventsResponse {
	return &pb.WatchEventsResponse{Item: &pb.WatchEventsResponse_Event{Event: &pb.Event{Kind: kind}}}
}

func dropsResponse(total uint64) *pb.WatchEventsResponse {
	return &pb.WatchEventsResponse{Item: &pb.WatchEventsResponse_Drops{Drops: &pb.Drops{Total: total}}}
}

// footerOf is the last line of the events view.
func footerOf(m *Model) string {
	m.view = eventsView
	lines := strings.Split(m.View(), "\n")
	return lines[len(lines)-1]
}

// Events the UI cannot take in time are dropped, counted and shown with the
// agent's own drops.
func TestEventsTheUIDropsAreCounted(t *testing.T) {
	sent := make(chan struct{})
	c := &fakeClient{watch: func(ctx context.Context, _ *pb.WatchEventsRequest, fn func(*pb.WatchEventsResponse) error) error {
		fn(dropsResponse(3))
		for range eventBuffer + 5 { // the drops report and 1023 events fit
			fn(eventResponse("exec"))
		}
		close(sent)
		<-ctx.Done()
		return nil
	}}
	m := newModel(t, c)
	m.start(m.all)
	select {
	case <-sent:
	case <-time.After(2 * time.Second):
		t.Fatal("the stream blocked on the UI")
	}
	if n := m.all.uiDropped.Load(); n != 6 {
		t.Fatalf("UI dropped %d events, want 6", n)
	}
	for range eventBuffer {
		m.Update(m.all.next()())
	}
	if len(m.events) != eventBuffer-1 {
		t.Fatalf("%d events shown, want %d", len(m.events), eventBuffer-1)
	}
	if f := footerOf(m); !strings.Contains(f, "events dropped: 9 ") {
		t.Fatalf("footer %q, want 9 events dropped (3 by the agent, 6 by the UI)", f)
	}
}

// A failed event stream is reopened after a doubling, bounded delay; the
// error shows meanwhile, and the drops of every stream add up.
func TestEventStreamReopenedAfterFailure(t *testing.T) {
	var calls int
	c := &fakeClient{watch: func(ctx context.Context, _ *pb.WatchEventsRequest, fn func(*pb.WatchEventsResponse) error) error {
		calls++
		switch calls {
		case 1:
			fn(dropsResponse(4))
			return fmt.Errorf("agent gone %d", calls)
		case 2, 3:
			return fmt.Errorf("agent gone %d", calls)
		}
		fn(dropsResponse(2))
		fn(eventResponse("oom"))
		<-ctx.Done()
		return nil
	}}
	m := newModel(t, c)
	m.retryMin, m.retryMax = time.Millisecond, 2*time.Millisecond
	m.start(m.all)
	m.Update(m.all.next()()) // the first stream's drop report
	for i, want := range []time.Duration{time.Millisecond, 2 * time.Millisecond, 2 * time.Millisecond} {
		msg, ok := m.all.next()().(watchFailedMsg)
		if !ok || msg.retry != want {
			t.Fatalf("failure %d: %#v, want a watch failure retried in %v", i+1, msg, want)
		}
		m.Update(msg)
		if f, e := footerOf(m), fmt.Sprintf("event stream: agent gone %d", i+1); !strings.Contains(f, e) {
			t.Fatalf("footer %q, want %q", f, e)
		}
	}
	m.Update(m.all.next()()) // the fourth stream's drop report
	m.Update(m.all.next()())
	if len(m.events) != 1 || m.events[0].GetKind() != "oom" {
		t.Fatalf("events %v, want the reopened stream's oom", m.events)
	}
	f := footerOf(m)
	if strings.Contains(f, "event stream") || !strings.Contains(f, "events dropped: 6 ") {
		t.Fatalf("footer %q, want no stream error and 6 events dropped (4 + 2)", f)
	}
}

// TestGPUTabSaysWhatIsSampled: the GPU tab's footer says which accelerator
// calls are counted in windows, and what share of them.
func TestGPUTabSaysWhatIsSampled(t *testing.T) {
	fc := &fakeClient{statuses: []*pb.Status{{Node: "n1", Probes: []*pb.ProbeStatus{
		{Name: "process", Up: true},
		{Name: "cuda", Up: true, SampledProcesses: 2, Sampling: []*pb.Sampling{{Call: "launch", Ratio: 0.026}, {Call: "gemm", Ratio: 1}}},
	}}}}
	m := newModel(t, fc)
	press(m, "5")
	m.Update(m.refresh()())
	want := "cuda: sampled in 2 process(es), counted launch 2.6% (the rest estimated)"
	if !strings.Contains(m.View(), want) {
		t.Errorf("GPU tab does not say %q:\n%s", want, m.View())
	}
}
