package tui

import (
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/histogram"
	"github.com/orb8/orb8/internal/humanize"
)

// httpSample is a workload's HTTP counters of one direction at a refresh.
type httpSample struct {
	present          bool
	server           bool
	requests, errors float64
	buckets          []float64 // cumulative, the last +Inf
}

// httpOf is the HTTP figures a row shows: those of the requests the
// workload served, else those it sent; nil without the http probe.
func httpOf(f *pb.WorkloadFigures) (h *pb.HTTPFigures, server bool) {
	if h := f.GetHttpServer(); h != nil {
		return h, true
	}
	return f.GetHttpClient(), false
}

// httpRates sets r's request rate, error ratio and p99 latency over the
// requests between the previous refresh (p, if seen) and this one, at, and
// returns this refresh's sample. The ratio and the p99 need a request in
// between; nothing is derived across a change of direction or a reset.
func (r *row) httpRates(at time.Time, p *sample, seen bool) httpSample {
	h, server := httpOf(r.f)
	if h == nil {
		return httpSample{}
	}
	next := httpSample{present: true, server: server, requests: h.GetRequestsTotal(), errors: h.GetErrorsTotal()}
	for _, b := range h.GetDuration() {
		next.buckets = append(next.buckets, float64(b.GetCumulativeCount()))
	}
	prev := p.http
	if !seen || !prev.present || prev.server != server || !at.After(p.at) || len(prev.buckets) != len(next.buckets) || next.resetSince(&prev) {
		return next
	}
	n := next.requests - prev.requests
	rate := n / at.Sub(p.at).Seconds()
	r.rps = &rate
	if n == 0 {
		return next
	}
	ratio := (next.errors - prev.errors) / n
	r.errRatio = &ratio
	bounds := h.GetDuration()
	last := len(bounds) - 1
	if last >= 0 {
		delta := func(i int) (float64, float64) { return bounds[i].GetUpperBound(), next.buckets[i] - prev.buckets[i] }
		if p99, ok := histogram.Quantile(0.99, len(bounds), delta, next.buckets[last]-prev.buckets[last]); ok {
			r.p99 = &p99
		}
	}
	return next
}

// resetSince reports whether any counter of s went down since prev: the
// agent restarted (its new totals may already exceed the old), so nothing
// between them is a delta.
func (s *httpSample) resetSince(prev *httpSample) bool {
	if s.requests < prev.requests || s.errors < prev.errors {
		return true
	}
	for i := range s.buckets {
		if s.buckets[i] < prev.buckets[i] {
			return true
		}
	}
	return false
}

// reqLine is one line of the requests view: a request among its
// workload's failing or slowest.
type reqLine struct {
	r       *pb.Request
	failing bool
}

type requestsMsg []reqLine

// openRequests shows the requests view of one workload (nil: of all).
func (m *Model) openRequests(w *pb.Workload) tea.Cmd {
	m.reqScope = w
	if w != nil {
		m.reqBack = m.view
	}
	return m.switchView(requestsView)
}

// fetchRequests reads the failing requests, newest first, then the slowest,
// of the workload in scope or of every workload the command's filter selects.
func (m *Model) fetchRequests() tea.Cmd {
	filter, scope := m.opts.Filter, m.reqScope
	if scope != nil {
		filter = &pb.WorkloadFilter{Cgroup: scope.GetCgroup(), Cluster: scope.GetCluster()}
	}
	return func() tea.Msg {
		ctx, cancel := m.call()
		defer cancel()
		var lines []reqLine
		for _, kind := range []string{"failing", "slowest"} {
			rs, err := m.client.Requests(ctx, &pb.ListRequestsRequest{Filter: filter, Kind: kind, Limit: listLimit})
			if err != nil {
				return errMsg{err}
			}
			for _, r := range rs {
				if scope == nil || sameWorkload(r.GetWorkload(), scope) {
					lines = append(lines, reqLine{r: r, failing: kind == "failing"})
				}
			}
		}
		return requestsMsg(lines)
	}
}

// requestColumns are the requests view's columns (cells are escaped by
// renderRow: methods and paths come off the wire).
func (m *Model) requestColumns() ([]column, func(i int) []string) {
	return []column{{"KIND", 4, false, false}, {"WORKLOAD", 20, false, false}, {"REQUEST", 0, false, true}, {"CODE", 4, true, false},
			{"LATENCY", 8, true, false}, {"PEER", 18, false, false}},
		func(i int) []string {
			l := m.requests[i]
			kind := "slow"
			if l.failing {
				kind = "fail"
			}
			r := l.r
			path := r.GetPath()
			if r.GetPathTruncated() {
				path += "…"
			}
			return []string{kind, workloadName(r.GetWorkload()), r.GetMethod() + " " + path, r.StatusText(),
				humanize.Seconds(r.GetLatencySeconds()), humanize.Dash(r.PeerName())}
		}
}

// requestSearch is the filter text of a requests view line.
func requestSearch(l reqLine) string {
	r := l.r
	return workloadSearch(r.GetWorkload()) + " " + strings.ToLower(r.GetMethod()+" "+r.GetPath()) + " " + r.StatusText()
}
