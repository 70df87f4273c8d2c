package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/eventtext"
	"github.com/orb8/orb8/internal/humanize"
)

var (
	titleStyle    = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("12"))
	headerStyle   = lipgloss.NewStyle().Bold(true).Underline(true)
	selectedStyle = lipgloss.NewStyle().Reverse(true)
	dimStyle      = lipgloss.NewStyle().Faint(true)
	errStyle      = lipgloss.NewStyle().Foreground(lipgloss.Color("9"))
)

// column is one column of a list: a header, a width (0: takes the rest) and
// how a row's cell reads.
type column struct {
	title string
	width int
	right bool
	// head: a flexible column cut keeps its start (text), not its end
	// (a cgroup path says the most at its end).
	head bool
}

// View implements tea.Model.
func (m *Model) View() string {
	if m.help {
		return m.helpText()
	}
	var b strings.Builder
	b.WriteString(m.title())
	b.WriteByte('\n')
	if m.view == detailView {
		b.WriteString(m.detailText())
	} else {
		b.WriteString(m.listText())
	}
	return b.String()
}

func (m *Model) title() string {
	if m.view == trailView {
		return fit(titleStyle.Render("orb8 top")+" "+dimStyle.Render(m.opts.Source)+"  events of "+humanize.Safe(workloadName(m.trail.workload)), m.width)
	}
	var tabs []string
	for v := workloadsView; v < views; v++ {
		name := fmt.Sprintf("%d %s", v+1, viewNames[v])
		if v == m.view || (m.view == detailView && v == m.back) {
			name = "[" + name + "]"
		}
		tabs = append(tabs, name)
	}
	return fit(titleStyle.Render("orb8 top")+" "+dimStyle.Render(m.opts.Source)+"  "+strings.Join(tabs, " "), m.width)
}

// footer is the last line: filter, status or error, and the key reminder.
func (m *Model) footer(count string) string {
	events := m.all // the stream whose losses and state the footer tells
	if m.view == trailView {
		events = m.trail.stream
	}
	switch {
	case m.filtering:
		return m.filter.View()
	case m.err != nil && m.view != trailView:
		return fit(errStyle.Render("error: "+humanize.OneLine(m.err.Error())), m.width)
	case events.err != nil && (m.view == eventsView || m.view == trailView):
		return fit(errStyle.Render("event stream: "+humanize.OneLine(events.err.Error())+" (reopening)"), m.width)
	case m.status != "" && time.Since(m.statusAt) < statusFor:
		return fit(m.status, m.width)
	}
	parts := []string{count}
	if len(m.words) > 0 {
		parts = append(parts, "filter: "+strings.Join(m.words, " "))
	}
	if m.view == workloadsView {
		parts = append(parts, "sort: "+sortNames[m.sort])
	}
	if m.view == insightsView {
		parts = append(parts, m.insightsAbout())
	}
	if m.view == requestsView && m.reqScope != nil {
		parts = append(parts, "of "+humanize.Safe(workloadName(m.reqScope))+", Esc back")
	}
	if m.view == gpuView && m.sampling != "" {
		parts = append(parts, humanize.Safe(m.sampling))
	}
	if n := events.lost(); n > 0 {
		parts = append(parts, fmt.Sprintf("events dropped: %d", n))
	}
	if events.err != nil {
		parts = append(parts, "event stream down")
	}
	if m.view == trailView {
		parts = append(parts, "Esc back")
	}
	parts = append(parts, "? help  q quit")
	return fit(dimStyle.Render(strings.Join(parts, " | ")), m.width)
}

// listText renders the visible page of the current list only.
func (m *Model) listText() string {
	cols, cells := m.columns()
	var b strings.Builder
	b.WriteString(headerStyle.Render(m.renderRow(cols, titles(cols))))
	b.WriteByte('\n')
	page := m.pageRows()
	end := min(m.offset+page, len(m.visible))
	for line := m.offset; line < end; line++ {
		text := m.renderRow(cols, cells(m.visible[line]))
		if line == m.cursor {
			text = selectedStyle.Render(text)
		}
		b.WriteString(text)
		b.WriteByte('\n')
	}
	for line := end - m.offset; line < page; line++ {
		b.WriteByte('\n')
	}
	if m.view == trailView {
		b.WriteString(m.trailPane())
	}
	if m.view == gpuView && len(m.kernels) > 0 {
		b.WriteString(m.kernelsPane())
	}
	if m.updated.IsZero() && m.err == nil {
		return b.String() + m.footer("loading...")
	}
	return b.String() + m.footer(fmt.Sprintf("%d/%d", min(m.cursor+1, len(m.visible)), len(m.visible)))
}

func titles(cols []column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.title
	}
	return out
}

// renderRow lays cells out in the columns; the flexible column takes what
// the terminal width leaves.
func (m *Model) renderRow(cols []column, cells []string) string {
	fixed := 0
	for _, c := range cols {
		fixed += c.width + 1
	}
	var b strings.Builder
	for i, c := range cols {
		w := c.width
		if w == 0 {
			w = max(m.width-fixed-1, 8)
		}
		cell := humanize.Safe(cells[i]) // workloads name themselves: no control sequences
		if c.width == 0 && !c.head {
			cell = keepTail(cell, w)
		} else {
			cell = truncate(cell, w)
		}
		if c.right {
			fmt.Fprintf(&b, "%*s ", w, cell)
		} else {
			fmt.Fprintf(&b, "%-*s ", w, cell)
		}
	}
	return strings.TrimRight(b.String(), " ")
}

// columns are the current view's columns and its cell reader.
func (m *Model) columns() ([]column, func(i int) []string) {
	switch m.view {
	case trailView:
		return m.trailColumns()
	case flowsView:
		return []column{{"WORKLOAD", 0, false, false}, {"PROTO", 5, false, false}, {"REMOTE", 21, false, false}, {"TX", 9, true, false}, {"RX", 9, true, false}, {"RTT", 8, true, false}},
			func(i int) []string {
				f := m.flows[i]
				rtt := "-"
				if f.GetRttSeconds() > 0 {
					rtt = humanize.Seconds(f.GetRttSeconds())
				}
				return []string{workloadName(f.GetWorkload()), f.GetProtocol(), remote(f), humanize.Bytes(float64(f.GetTxBytes())), humanize.Bytes(float64(f.GetRxBytes())), rtt}
			}
	case dnsView:
		return []column{{"WORKLOAD", 0, false, false}, {"NAME", 24, false, false}, {"TYPE", 5, false, false}, {"RCODE", 8, false, false}, {"LATENCY", 9, true, false}},
			func(i int) []string {
				q := m.dns[i]
				return []string{workloadName(q.GetWorkload()), q.GetName(), q.GetQtype(), humanize.Dash(q.GetRcode()), latency(q)}
			}
	case eventsView:
		return []column{{"TIME", 12, false, false}, {"KIND", 5, false, false}, {"WORKLOAD", 0, false, false}, {"PID", 7, true, false}, {"COMM", 15, false, false}},
			func(i int) []string {
				e := m.events[i]
				return []string{e.GetTime().AsTime().Local().Format("15:04:05.000"), e.GetKind(), workloadName(e.GetWorkload()),
					fmt.Sprint(e.GetProcess().GetPid()), e.GetProcess().GetComm()}
			}
	case gpuView:
		return []column{{"GPU", 0, false, false}, {"UTIL", 6, true, false}, {"MEM USED", 10, true, false}, {"MEM TOTAL", 10, true, false}, {"TEMP", 6, true, false}, {"POWER", 7, true, false}},
			func(i int) []string {
				g := m.gpus[i]
				return []string{g.GetNode() + " " + g.GetVendor() + " " + g.GetGpu() + " " + g.GetModel(), humanize.Optional(g.UtilizationRatio, humanize.Percent),
					humanize.Optional(g.MemoryUsedBytes, humanize.Bytes), humanize.Optional(g.MemoryTotalBytes, humanize.Bytes),
					humanize.Optional(g.TemperatureCelsius, func(v float64) string { return fmt.Sprintf("%.0fC", v) }),
					humanize.Optional(g.PowerWatts, func(v float64) string { return fmt.Sprintf("%.0fW", v) })}
			}
	case requestsView:
		return m.requestColumns()
	case insightsView:
		return []column{{"INSIGHT", 10, false, false}, {"WORKLOAD", 32, false, false}, {"WHAT", 0, false, true}},
			func(i int) []string {
				r := m.insights[i]
				return []string{r.kind, r.name, r.what}
			}
	}
	cols := []column{{"WORKLOAD", 0, false, false}, {"PROCS", 5, true, false}, {"NET/s", 9, true, false}, {"DNSERR", 6, true, false}, {"RQWAIT", 8, true, false}, {"MEM%", 5, true, false}, {"FDS", 6, true, false}, {"GPU", 9, true, false}}
	if m.hasHTTP {
		cols = append(cols, column{"RPS", 6, true, false}, column{"ERR%", 5, true, false}, column{"P99", 8, true, false})
	}
	return cols, func(i int) []string {
		r := &m.rows[i]
		f := r.f
		cells := []string{r.name, humanize.Optional(f.ProcessesRunning, humanize.Count), humanize.Optional(r.netRate, humanize.Bytes), humanize.Optional(f.DnsErrorsTotal, humanize.Count),
			humanize.Optional(r.rqWait, humanize.Seconds), humanize.Optional(r.memRate, humanize.Percent), humanize.Optional(f.OpenFds, humanize.Count),
			humanize.Optional(f.AcceleratorMemoryUsedBytes, humanize.Bytes)}
		if m.hasHTTP {
			cells = append(cells, humanize.Optional(r.rps, humanize.Count), humanize.Optional(r.errRatio, humanize.Percent), humanize.Optional(r.p99, humanize.Seconds))
		}
		return cells
	}
}

// meanWait is a workload's mean run-queue wait per timeslice since the
// agent started; nil without the counters or a timeslice.
func meanWait(f *pb.WorkloadFigures) *float64 {
	if f.GetTimeslicesTotal() <= 0 {
		return nil
	}
	mean := f.GetRunqueueWaitSecondsTotal() / f.GetTimeslicesTotal()
	return &mean
}

// detailText is the drill-down: identity, figures, processes, flows, DNS, events.
func (m *Model) detailText() string {
	d := m.detail
	w := d.figures.GetWorkload()
	f := d.figures
	var lines []string
	safe := humanize.Safe
	lines = append(lines, titleStyle.Render(safe(workloadName(w))))
	lines = append(lines, fmt.Sprintf("cgroup %s  node %s", safe(w.GetCgroup()), safe(humanize.Dash(w.GetNode()))))
	lines = append(lines, fmt.Sprintf("procs %s  execs %s  exits %s  mem %s / %s  fds %s / %s  oom %s",
		humanize.Optional(f.ProcessesRunning, humanize.Count), humanize.Optional(f.ExecTotal, humanize.Count), humanize.Optional(f.ExitTotal, humanize.Count),
		humanize.Optional(f.MemoryUsageBytes, humanize.Bytes), humanize.Optional(f.MemoryLimitBytes, humanize.Bytes), humanize.Optional(f.OpenFds, humanize.Count),
		humanize.Optional(f.FdLimit, humanize.Count), humanize.Optional(f.OomKillsTotal, humanize.Count)))
	lines = append(lines, fmt.Sprintf("net tx %s rx %s  tcp %s retrans %s  dns %s err %s  runq wait %s/slice p99 %s  gpu %s %s  cuda launches %s",
		humanize.Optional(f.NetworkTxBytesTotal, humanize.Bytes), humanize.Optional(f.NetworkRxBytesTotal, humanize.Bytes), humanize.Optional(f.TcpActiveConnections, humanize.Count),
		humanize.Optional(f.TcpRetransmitsTotal, humanize.Count), humanize.Optional(f.DnsQueriesTotal, humanize.Count), humanize.Optional(f.DnsErrorsTotal, humanize.Count),
		humanize.Optional(meanWait(f), humanize.Seconds), humanize.Optional(f.RunqueueLatencyP99Seconds, humanize.Seconds), humanize.Optional(f.AcceleratorMemoryUsedBytes, humanize.Bytes),
		humanize.Optional(f.AcceleratorUtilizationRatio, humanize.Percent), humanize.Optional(f.AcceleratorKernelLaunchesTotal, humanize.Count)))
	lines = append(lines, headerStyle.Render(fmt.Sprintf("Processes (%d)", len(d.processes))))
	for _, p := range d.processes {
		lines = append(lines, fmt.Sprintf("  %7d %-16s ppid %d uid %d", p.GetPid(), safe(p.GetComm()), p.GetPpid(), p.GetUid()))
	}
	lines = append(lines, headerStyle.Render(fmt.Sprintf("Flows (%d)", len(d.flows))))
	for _, fl := range d.flows {
		lines = append(lines, fmt.Sprintf("  %-4s %-21s tx %s rx %s", fl.GetProtocol(), safe(remote(fl)), humanize.Bytes(float64(fl.GetTxBytes())), humanize.Bytes(float64(fl.GetRxBytes()))))
	}
	lines = append(lines, headerStyle.Render(fmt.Sprintf("DNS (%d)", len(d.dns))))
	for _, q := range d.dns {
		lines = append(lines, fmt.Sprintf("  %-30s %-5s %-8s %s", safe(q.GetName()), q.GetQtype(), humanize.Dash(q.GetRcode()), latency(q)))
	}
	lines = append(lines, headerStyle.Render(fmt.Sprintf("Events (%d)", len(d.events))))
	for i := len(d.events) - 1; i >= 0 && i >= len(d.events)-20; i-- {
		e := d.events[i]
		lines = append(lines, fmt.Sprintf("  %s %-6s %7d %-15s %s", e.GetTime().AsTime().Local().Format("15:04:05.000"), e.GetKind(), e.GetProcess().GetPid(),
			safe(e.GetProcess().GetComm()), eventtext.Detail(e)))
	}
	// The detail scrolls by whole lines with the cursor.
	page := max(m.height-2, 1)
	m.cursor = max(min(m.cursor, len(lines)-page), 0)
	end := min(m.cursor+page, len(lines))
	var b strings.Builder
	for _, l := range lines[m.cursor:end] {
		b.WriteString(fit(l, m.width))
		b.WriteByte('\n')
	}
	for i := end - m.cursor; i < page; i++ {
		b.WriteByte('\n')
	}
	return b.String() + m.footer("Esc back | l events | e export")
}

func (m *Model) helpText() string {
	return strings.Join([]string{
		titleStyle.Render("orb8 top: keys"),
		"  1-7, Tab     workloads, flows, DNS, events, GPU, insights, requests",
		"  Up/Down j/k  move; PgUp/PgDn, Home/End",
		"  s            sort workloads: " + strings.Join(sortNames[:], ", "),
		"  /            filter: words that namespace, pod, container, cgroup,",
		"               node or a label=value must contain; Enter applies, Esc clears",
		"  Enter        drill into the workload: processes, flows, DNS, events, GPU",
		"  l            live events of the selected workload, newest at the bottom:",
		"               execs (command line, resolved executable, parent's), exits,",
		"               OOM kills, policy matches; the last 500 are kept",
		"  r            the selected workload's requests (7: every workload's): the",
		"               failing (status 500 and up) newest first, then the slowest of",
		"               the last one to two minutes (the http probe keeps 8 of each)",
		"  Esc          back (workload, its events or requests), or clear the filter",
		"  e / E        export the current view to a JSON / YAML file",
		"  ?            this help (any key closes it)",
		"  q            quit",
		"",
		"  Columns without data (no probe provides them here) show '-'.",
		"  NET/s is tx+rx payload bytes per second between two refreshes.",
		"  RPS, ERR% and P99 (with the http probe): the HTTP requests the workload",
		"  served, else sent, between two refreshes: per second, the share answered",
		"  500 or more, and the 99th percentile latency (to the response's first byte).",
		"  Insights (orb8 top --prometheus URL): regressions after rollouts and",
		"  requests per container from the history in Prometheus (orb8 insights).",
	}, "\n")
}

// remote names the peer when the agent knows it, else its address.
func remote(f *pb.Flow) string {
	if name := f.PeerName(); name != "" {
		return name
	}
	return humanize.HostPort(f.GetRemoteAddr(), f.GetRemotePort())
}

func latency(q *pb.DNSQuery) string {
	if q.GetLatencySeconds() == 0 {
		return "-"
	}
	return humanize.Seconds(q.GetLatencySeconds())
}

// truncate cuts s to width cells, marking the cut.
func truncate(s string, width int) string {
	if lipgloss.Width(s) <= width {
		return s
	}
	r := []rune(s)
	if width <= 1 {
		return string(r[:max(width, 0)])
	}
	return string(r[:width-1]) + "…"
}

// keepTail cuts s from the left: the end of a cgroup path says the most.
func keepTail(s string, width int) string {
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	return "…" + string(r[len(r)-width+1:])
}

// fit cuts a (possibly styled) line to the terminal width.
func fit(s string, width int) string {
	return lipgloss.NewStyle().MaxWidth(width).Render(s)
}
