// Package tui is `orb8 top`: a live terminal view of one agent (or every
// agent of a cluster) through apiclient.Client. Rows are virtualized (only
// the visible ones are rendered) and sorted once per refresh, so it stays
// responsive with thousands of workloads and usable on 80x24.
package tui

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
)

// view is one screen of the UI.
type view int

const (
	workloadsView view = iota
	flowsView
	dnsView
	eventsView
	gpuView
	insightsView
	requestsView
	detailView
	trailView
	views = detailView // the tabs; detail is reached by Enter, trace by l
)

var viewNames = [...]string{"Workloads", "Flows", "DNS", "Events", "GPU", "Insights", "Requests", "Detail", "Trace"}

const (
	// listLimit bounds the flows and DNS lists one refresh asks for.
	listLimit = 2000
	// maxEvents bounds the live events kept in memory.
	maxEvents = 2000
	// statusFor is how long a message (e.g. where an export went) shows.
	statusFor = 5 * time.Second
	// eventBuffer is how many streamed messages wait for the UI before
	// further ones are dropped.
	eventBuffer = 1024
	// A failed event stream is reopened after watchRetryMin, doubling up
	// to watchRetryMax while it keeps failing.
	watchRetryMin = 500 * time.Millisecond
	watchRetryMax = 30 * time.Second
)

// Options configure the UI.
type Options struct {
	Refresh   time.Duration
	Timeout   time.Duration
	ExportDir string
	Source    string // shown in the title: the agent address, "in-process", "all nodes"
	// Filter (-n, -l, --pod, --cgroup) narrows every list and the event
	// stream; the '/' filter narrows further.
	Filter *pb.WorkloadFilter
	// Insights, when set, fills the Insights view from history in
	// Prometheus (orb8 top --prometheus).
	Insights Insights
}

// Model is the bubbletea model of `orb8 top`.
type Model struct {
	client apiclient.Client
	opts   Options
	ctx    context.Context
	cancel context.CancelFunc

	width, height int
	view          view
	back          view // where Esc returns from the detail view
	sort          sortKey
	cursor        int
	offset        int
	help          bool
	filter        textinput.Model
	filtering     bool
	words         []string

	prev map[string]sample
	rows []row // all workloads, sorted
	// hasHTTP: some workload has HTTP figures (the http probe runs), so
	// the workloads view shows the request columns.
	hasHTTP bool
	visible []int // indexes into rows (or the current list) passing the filter
	flows   []*pb.Flow
	dns     []*pb.DNSQuery
	gpus    []*pb.GPU
	// sampling says which accelerator calls are counted in windows (the GPU
	// tab's footer).
	sampling string
	// kernels are the most launched kernels of the workloads (the GPU
	// tab's kernel pane).
	kernels []kernelLine
	// requests are the requests view's lines, of reqScope's workload (nil:
	// of every workload).
	requests []reqLine
	reqScope *pb.Workload
	reqBack  view        // where Esc returns from one workload's requests
	events   []*pb.Event // newest last, bounded by maxEvents
	// insights is the Insights view's last answer, from insightsAt.
	insights   []insightRow
	insightsAt time.Time
	// all streams every event the command's filter selects.
	all *stream
	// retryMin and retryMax bound the delay before reopening a stream.
	retryMin, retryMax time.Duration

	detail *detail
	trail  *trail

	status   string
	statusAt time.Time // the status line shows for statusFor
	err      error
	updated  time.Time
	inflight bool // a refresh is on its way: ticks do not pile calls up
}

// detail is the drill-down into one workload.
type detail struct {
	figures   *pb.WorkloadFigures
	processes []*pb.Process
	flows     []*pb.Flow
	dns       []*pb.DNSQuery
	events    []*pb.Event
}

// New builds the model; Run starts it.
func New(client apiclient.Client, opts Options) *Model {
	if opts.Refresh <= 0 {
		opts.Refresh = time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 3 * time.Second
	}
	ti := textinput.New()
	ti.Prompt = "/"
	ti.Placeholder = "namespace, pod, cgroup or label=value"
	ctx, cancel := context.WithCancel(context.Background())
	return &Model{
		client: client, opts: opts, ctx: ctx, cancel: cancel, filter: ti,
		width: 80, height: 24, prev: map[string]sample{},
		all:      newStream(ctx, &pb.WatchEventsRequest{Filter: opts.Filter}),
		retryMin: watchRetryMin, retryMax: watchRetryMax,
	}
}

// Run shows the UI on the terminal until the user quits.
func Run(client apiclient.Client, opts Options) error {
	m := New(client, opts)
	defer m.cancel()
	_, err := tea.NewProgram(m, tea.WithAltScreen()).Run()
	return err
}

// Init implements tea.Model.
func (m *Model) Init() tea.Cmd {
	m.start(m.all)
	m.inflight = true
	return tea.Batch(m.refresh(), m.tick(), m.all.next())
}

// start runs a stream until it is cancelled.
func (m *Model) start(s *stream) {
	go s.run(m.client, m.retryMin, m.retryMax)
}

// Messages.
type (
	tickMsg      struct{}
	workloadsMsg struct {
		list []*pb.WorkloadFigures
		at   time.Time
	}
	flowsMsg []*pb.Flow
	dnsMsg   []*pb.DNSQuery
	gpusMsg  struct {
		gpus     []*pb.GPU
		sampling string
		kernels  []kernelLine
	}
	detailMsg *detail
	errMsg    struct{ err error }
)

func (m *Model) call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(m.ctx, m.opts.Timeout)
}

// refresh asks for what the current view shows.
func (m *Model) refresh() tea.Cmd {
	switch m.view {
	case flowsView:
		return func() tea.Msg {
			ctx, cancel := m.call()
			defer cancel()
			flows, err := m.client.Flows(ctx, &pb.ListFlowsRequest{Filter: m.opts.Filter, Limit: listLimit})
			if err != nil {
				return errMsg{err}
			}
			return flowsMsg(flows)
		}
	case dnsView:
		return func() tea.Msg {
			ctx, cancel := m.call()
			defer cancel()
			q, err := m.client.DNS(ctx, &pb.ListDNSRequest{Filter: m.opts.Filter, Limit: listLimit})
			if err != nil {
				return errMsg{err}
			}
			return dnsMsg(q)
		}
	case gpuView:
		return func() tea.Msg {
			ctx, cancel := m.call()
			defer cancel()
			g, err := m.client.GPUs(ctx)
			if err != nil {
				return errMsg{err}
			}
			st, err := m.client.Statuses(ctx)
			if err != nil {
				return errMsg{err}
			}
			list, err := m.client.Workloads(ctx, &pb.ListWorkloadsRequest{Filter: m.opts.Filter})
			if err != nil {
				return errMsg{err}
			}
			return gpusMsg{gpus: g, sampling: samplingNotes(st), kernels: topKernels(list)}
		}
	case insightsView:
		return m.fetchInsights()
	case requestsView:
		return m.fetchRequests()
	case detailView:
		return m.fetchDetail(m.detail.figures)
	}
	return func() tea.Msg {
		ctx, cancel := m.call()
		defer cancel()
		list, err := m.client.Workloads(ctx, &pb.ListWorkloadsRequest{Filter: m.opts.Filter})
		if err != nil {
			return errMsg{err}
		}
		return workloadsMsg{list: list, at: time.Now()}
	}
}

// fetchDetail reads one workload's processes, flows and DNS.
func (m *Model) fetchDetail(f *pb.WorkloadFigures) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := m.call()
		defer cancel()
		w := f.GetWorkload()
		filter := &pb.WorkloadFilter{Cgroup: w.GetCgroup()}
		d := &detail{figures: f}
		list, err := m.client.Workloads(ctx, &pb.ListWorkloadsRequest{Filter: filter})
		if err != nil {
			return errMsg{err}
		}
		for _, fresh := range list {
			if sameWorkload(fresh.GetWorkload(), w) {
				d.figures = fresh
			}
		}
		if d.processes, err = m.client.Processes(ctx, w.GetNode(), w.GetCgroup()); err != nil {
			return errMsg{err}
		}
		if d.flows, err = m.client.Flows(ctx, &pb.ListFlowsRequest{Filter: filter, Limit: 100}); err != nil {
			return errMsg{err}
		}
		if d.dns, err = m.client.DNS(ctx, &pb.ListDNSRequest{Filter: filter, Limit: 100}); err != nil {
			return errMsg{err}
		}
		return detailMsg(d)
	}
}

func (m *Model) tick() tea.Cmd {
	return tea.Tick(m.opts.Refresh, func(time.Time) tea.Msg { return tickMsg{} })
}

// Update implements tea.Model.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.clampCursor()
	case tea.KeyMsg:
		return m.key(msg)
	case tickMsg:
		if m.inflight || m.view == trailView { // the trace view only streams
			return m, m.tick()
		}
		m.inflight = true
		return m, tea.Batch(m.refresh(), m.tick())
	case workloadsMsg:
		m.rows = buildRows(msg.list, msg.at, m.prev)
		sortRows(m.rows, m.sort)
		m.hasHTTP = slices.ContainsFunc(m.rows, func(r row) bool { h, _ := httpOf(r.f); return h != nil })
		m.loaded()
	case flowsMsg:
		m.flows = msg
		m.loaded()
	case dnsMsg:
		m.dns = msg
		m.loaded()
	case requestsMsg:
		m.requests = msg
		m.loaded()
	case gpusMsg:
		m.gpus, m.sampling, m.kernels = msg.gpus, msg.sampling, msg.kernels
		m.loaded()
	case insightsMsg:
		m.insights, m.insightsAt = msg.rows, msg.at
		m.loaded()
	case detailMsg:
		if m.detail != nil && sameWorkload(msg.figures.GetWorkload(), m.detail.figures.GetWorkload()) {
			msg.events = m.detail.events
			m.detail = msg
		}
		m.loaded()
	case eventMsg:
		return m, m.streamMsg(msg.s, msg)
	case watchFailedMsg:
		return m, m.streamMsg(msg.s, msg)
	case errMsg:
		m.err = msg.err
		m.inflight = false
	}
	return m, nil
}

// loaded follows a fresh answer: recompute what passes the filter, schedule
// the next refresh.
func (m *Model) loaded() {
	m.err = nil
	m.inflight = false
	m.updated = time.Now()
	m.applyFilter()
}

// streamMsg routes a stream's message to the view it feeds; a closed
// stream's last one goes nowhere.
func (m *Model) streamMsg(s *stream, msg tea.Msg) tea.Cmd {
	switch {
	case s == m.all:
		if e := s.take(msg); e != nil {
			m.addEvent(e)
		}
		return s.next()
	case m.trail != nil && s == m.trail.stream:
		return m.trailMsg(msg)
	}
	return nil
}

func (m *Model) addEvent(e *pb.Event) {
	m.events = appendBounded(m.events, e)
	if m.detail != nil && sameWorkload(e.GetWorkload(), m.detail.figures.GetWorkload()) {
		m.detail.events = appendBounded(m.detail.events, e)
	}
	if m.view == eventsView {
		m.applyFilter()
	}
}

func appendBounded(list []*pb.Event, e *pb.Event) []*pb.Event {
	if len(list) >= maxEvents {
		list = append(list[:0:0], list[len(list)-maxEvents/2:]...)
	}
	return append(list, e)
}

// applyFilter recomputes the indexes of the current list that pass the filter.
func (m *Model) applyFilter() {
	m.visible = m.visible[:0]
	for i := 0; i < m.listLen(); i++ {
		if len(m.words) == 0 || matches(m.itemSearch(i), m.words) {
			m.visible = append(m.visible, i)
		}
	}
	m.clampCursor()
}

func (m *Model) listLen() int {
	switch m.view {
	case flowsView:
		return len(m.flows)
	case dnsView:
		return len(m.dns)
	case eventsView:
		return len(m.events)
	case gpuView:
		return len(m.gpus)
	case insightsView:
		return len(m.insights)
	case requestsView:
		return len(m.requests)
	case detailView:
		return 0
	case trailView:
		return len(m.trail.events)
	}
	return len(m.rows)
}

func (m *Model) itemSearch(i int) string {
	switch m.view {
	case flowsView:
		return workloadSearch(m.flows[i].GetWorkload())
	case dnsView:
		return workloadSearch(m.dns[i].GetWorkload()) + " " + strings.ToLower(m.dns[i].GetName())
	case eventsView:
		return workloadSearch(m.events[i].GetWorkload()) + " " + m.events[i].GetKind()
	case gpuView:
		g := m.gpus[i]
		return strings.ToLower(g.GetVendor() + " " + g.GetGpu() + " " + g.GetUuid() + " " + g.GetModel() + " " + g.GetNode())
	case insightsView:
		return m.insights[i].search
	case requestsView:
		return requestSearch(m.requests[i])
	case trailView:
		return m.trail.events[i].search
	}
	return m.rows[i].search
}

// pageRows is how many list rows fit under the title, header and footer
// (and the trace view's pane).
func (m *Model) pageRows() int {
	switch {
	case m.view == trailView:
		return max(m.height-3-trailPaneLines, 1)
	case m.view == gpuView && len(m.kernels) > 0:
		return max(m.height-3-kernelPaneLines, 1)
	}
	return max(m.height-3, 1)
}

func (m *Model) clampCursor() {
	n := len(m.visible)
	m.cursor = max(min(m.cursor, n-1), 0)
	page := m.pageRows()
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+page {
		m.offset = m.cursor - page + 1
	}
	m.offset = max(min(m.offset, n-page), 0)
}

func (m *Model) switchView(v view) tea.Cmd {
	m.leaveTrail()
	m.view, m.cursor, m.offset = v, 0, 0
	m.applyFilter()
	return m.refresh()
}

// sameWorkload: a cgroup path names a workload on one node of one fleet
// member (a hub can hold two members on the same node).
func sameWorkload(a, b *pb.Workload) bool {
	return a.GetCluster() == b.GetCluster() && a.GetNode() == b.GetNode() && a.GetCgroup() == b.GetCgroup()
}
