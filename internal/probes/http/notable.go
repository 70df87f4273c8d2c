package http

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
)

// Notable requests are, per workload, the slowest that finished in the last
// one to two minutes and the most recent failing ones (status 500 and up),
// which the API lists. A finished request's detail is built only when it
// makes a list: otherwise what a request costs here is a lookup and a compare.
const (
	// notableKeep bounds each list of a workload.
	notableKeep = 8
	// notableWindow is a slow bucket's span: two rotate, so the slowest
	// are those of the current and the previous window.
	notableWindow = uint64(time.Minute)
	// DefaultMaxNotableWorkloads bounds the workloads with notable
	// requests; the least recently put gives way (reason notable_evicted).
	DefaultMaxNotableWorkloads = 4096
)

// NotableRequest is a finished request among its workload's slowest or
// failing recent ones. HTTP has no trace ids.
type NotableRequest struct {
	Workload cgroup.Workload
	Time     time.Time // the request's first byte
	// Failing: one of the most recent requests answered 500 or more;
	// else one of the slowest (a request can be both, listed once as each).
	Failing bool
	HTTP    events.HTTP
}

// failingStatus says whether a status counts as an error (the server's fault),
// as in the API's http_*.errors_total figures.
func failingStatus(status int) bool { return status >= 500 }

// finished is a kept request: its detail and when it started and ended.
type finished struct {
	startNs, endNs uint64
	detail         events.HTTP
}

// slowBucket holds the slowest requests that finished in one window,
// slowest first.
type slowBucket struct {
	window uint64 // endNs / notableWindow
	reqs   []finished
}

// notable is one workload's lists.
type notable struct {
	slow    [2]slowBucket // by window % 2
	failing []finished    // a ring, next the oldest once full
	next    int
}

func (n *notable) kept() int { return len(n.slow[0].reqs) + len(n.slow[1].reqs) + len(n.failing) }

// headSpan is where a waiting request's method and path are in its
// connection's heads buffer.
type headSpan struct {
	start, tokenEnd, end int32
	version              byte
	pathTruncated        bool
}

// keepHead copies the method and path of h into c's buffer for a detail
// built when the request finishes: an append into a buffer that
// compactHeads keeps to about twice what the waiting requests need, so it
// allocates nothing once grown.
func (c *conn) keepHead(req *request, h *head) {
	path, truncated := h.path()
	start := len(c.heads)
	c.heads = append(c.heads, h.token...)
	tokenEnd := len(c.heads)
	c.heads = append(c.heads, path...)
	req.head = headSpan{start: int32(start), tokenEnd: int32(tokenEnd), end: int32(len(c.heads)), version: h.version, pathTruncated: truncated}
}

// compactHeads drops the bytes of the requests no longer waiting from the
// heads buffer: all of them once none waits, else (a response lost, a
// pipeline) those before the oldest waiting request's, once they are half
// the buffer. A connection that lost one response keeps one request
// waiting for good, and its buffer would otherwise grow by every request.
func (c *conn) compactHeads() {
	if len(c.waiting) == 0 {
		c.heads = c.heads[:0]
		return
	}
	base := c.waiting[0].head.start
	if int(base) < len(c.heads)/2 {
		return
	}
	c.heads = c.heads[:copy(c.heads, c.heads[base:])]
	for i := range c.waiting {
		h := &c.waiting[i].head
		h.start, h.tokenEnd, h.end = h.start-base, h.tokenEnd-base, h.end-base
	}
}

// path is the path of the head's target without its query string, and
// whether it was cut (at MaxHTTPPath, or before the head reached here).
func (h *head) path() ([]byte, bool) {
	path, truncated := requestPath(h.target)
	return path, truncated || h.targetCut
}

// requestPath is the path of a request target without its query string,
// cut at MaxHTTPPath bytes.
func requestPath(target []byte) ([]byte, bool) {
	path := originPath(cutQuery(target))
	return path[:min(len(path), events.MaxHTTPPath)], len(path) > events.MaxHTTPPath
}

// validPath is a path off the wire as valid UTF-8: OTLP refuses a batch
// with one invalid string.
func validPath(path []byte) string { return strings.ToValidUTF8(string(path), "\uFFFD") }

// ends are the other end and the workload's own of the socket of p.
func ends(p *packet) (peer, local netip.AddrPort) {
	if p.egress {
		return p.dst, p.src
	}
	return p.src, p.dst
}

// notableLocked keeps req, answered with status at endNs by the response
// in p, if it makes one of its workload's lists, then lets the heads
// buffer empty once no request waits.
func (t *tracker) notableLocked(c *conn, req *request, status int, p *packet, endNs uint64) {
	defer c.compactHeads()
	t.keepNotableLocked(c.cgroup, req.bootNs, endNs, failingStatus(status), func() events.HTTP { return c.detail(req, status, p) })
}

// keepNotableLocked keeps a request of cgroup that started at startNs and
// was answered at endNs if it makes one of its workload's lists: detail
// builds its event only then.
func (t *tracker) keepNotableLocked(cgroup, startNs, endNs uint64, failing bool, detail func() events.HTTP) {
	latency := endNs - startNs
	window := endNs / notableWindow
	n, ok := t.notable.Get(cgroup)
	var slow *slowBucket
	if ok {
		slow = &n.slow[window%2]
		if slow.window != window {
			slow.window, slow.reqs = window, slow.reqs[:0]
		}
	}
	slowest := !ok || len(slow.reqs) < notableKeep || latency > uint64(slow.reqs[notableKeep-1].detail.Latency)
	if !slowest && !failing {
		return
	}
	if !ok {
		if gone, old, evicted := t.notable.Put(cgroup, notable{}); evicted {
			t.dropped[dropNotableEvicted] += uint64(old.kept())
			t.slowest(gone, 0, 0, true)
		}
		n, _ = t.notable.Get(cgroup)
		slow = &n.slow[window%2]
		slow.window = window
	} else {
		t.notable.Touch(cgroup)
	}
	t.notableBuilt++
	f := finished{startNs: startNs, endNs: endNs, detail: detail()}
	f.detail.Latency = time.Duration(latency)
	if slowest {
		i, _ := slices.BinarySearchFunc(slow.reqs, latency, func(f finished, l uint64) int {
			if uint64(f.detail.Latency) >= l {
				return -1 // slower or as slow: an earlier one stays first
			}
			return 1
		})
		slow.reqs = slices.Insert(slow.reqs, i, f)
		slow.reqs = slow.reqs[:min(len(slow.reqs), notableKeep)]
		if len(slow.reqs) == notableKeep {
			t.slowest(cgroup, window, uint64(slow.reqs[notableKeep-1].detail.Latency), false)
		}
	}
	if failing {
		if len(n.failing) < notableKeep {
			n.failing = append(n.failing, f)
		} else {
			n.failing[n.next] = f
			n.next = (n.next + 1) % notableKeep
		}
	}
}

// detail is the event of req, answered with status by the response in p.
func (c *conn) detail(req *request, status int, p *packet) events.HTTP {
	h := req.head
	return detail(c.heads[h.start:h.tokenEnd], c.heads[h.tokenEnd:h.end], h.pathTruncated, h.version, req.server, status, p)
}

// keptRequest is a copy of a kept request for NotableRequests.
type keptRequest struct {
	cgroup  uint64
	failing bool
	finished
}

// notableRequests copies the kept requests that are recent at nowNs: the
// slowest of its window and the one before, the failing that finished in
// them too.
func (t *tracker) notableRequests(nowNs uint64) []keptRequest {
	t.mu.Lock()
	defer t.mu.Unlock()
	window := nowNs / notableWindow
	recent := func(endNs uint64) bool { return endNs/notableWindow+1 >= window }
	var out []keptRequest
	for id, n := range t.notable.All {
		start := len(out)
		for _, b := range n.slow {
			if b.window+1 >= window {
				for _, f := range b.reqs {
					out = append(out, keptRequest{cgroup: id, finished: f})
				}
			}
		}
		slices.SortStableFunc(out[start:], func(a, b keptRequest) int { return cmp.Compare(b.detail.Latency, a.detail.Latency) })
		out = out[:min(len(out), start+notableKeep)]
		for _, f := range n.failing {
			if recent(f.endNs) {
				out = append(out, keptRequest{cgroup: id, failing: true, finished: f})
			}
		}
	}
	return out
}

// NotableRequests returns the slowest and the failing recent requests of
// each visible workload: per workload at most 8 of each.
func (p *Probe) NotableRequests() []NotableRequest {
	if p.tracker == nil {
		return nil
	}
	now, ok := bootNow()
	if !ok {
		return nil
	}
	kept := p.tracker.notableRequests(now)
	out := make([]NotableRequest, 0, len(kept))
	for _, k := range kept {
		w, ok := p.env.Resolver.Visible(k.cgroup)
		if !ok {
			continue
		}
		out = append(out, NotableRequest{Workload: w, Time: probe.BootTime(k.startNs), Failing: k.failing, HTTP: k.detail})
	}
	return out
}
