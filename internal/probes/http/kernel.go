package http

import (
	"bytes"
	"unsafe"

	"github.com/cilium/ebpf"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
)

// HTTP/1.x requests the kernel matched and counted itself (h1.bpf.h): their
// counts and durations are read from its maps at a scrape, and only a
// notable one, or a connection handed over to user space, reaches the
// tracker as a record.

// emitKinds are the probe's gated kernel event kinds (orb8_emit): while
// someone listens for http events, every request goes through user space,
// which builds their events.
var emitKinds = map[httpH1EventKind]string{httpH1EventKindH1EVENT_HTTP: events.KindHTTP}

// kernelMethods are the label values of the kernel's methods.
var kernelMethods = map[httpH1Method]string{
	httpH1MethodH1GET: "GET", httpH1MethodH1HEAD: "HEAD", httpH1MethodH1POST: "POST", httpH1MethodH1PUT: "PUT",
	httpH1MethodH1DELETE: "DELETE", httpH1MethodH1CONNECT: "CONNECT", httpH1MethodH1OPTIONS: "OPTIONS",
	httpH1MethodH1TRACE: "TRACE", httpH1MethodH1PATCH: "PATCH",
}

func methodName(m httpH1Method) string {
	if name, ok := kernelMethods[m]; ok {
		return name
	}
	return "OTHER"
}

// kernelRequest is the struct h1_request behind a record's header, nil
// when the record is too short for one.
func kernelRequest(data []byte) *httpH1Request {
	if len(data) < int(unsafe.Sizeof(httpH1Request{})) {
		return nil
	}
	return (*httpH1Request)(unsafe.Pointer(&data[0]))
}

// kernelHead is the head of the request the kernel kept: its method token,
// target and version from the first bytes of its request line (method SP
// target SP "HTTP/1." DIGIT, LineEnd bytes in all).
func kernelHead(r *httpH1Request) head {
	kept := r.Line[:min(int(r.LineLen), len(r.Line))]
	h := head{request: true, method: methodName(r.Method), version: r.Version}
	token, target, _ := bytes.Cut(kept, []byte(" "))
	h.token = token
	// The target ends before " HTTP/1.x", which may be past what was kept.
	end := int(r.LineEnd) - len(" HTTP/1.1") - len(token) - 1
	if end < len(target) {
		target = target[:max(end, 0)]
	} else if end > len(target) {
		h.targetCut = true
	}
	h.target = target
	return h
}

// handOverLocked takes up a connection the kernel followed until now, with
// the request it had waiting and its framing state.
func (t *tracker) handOverLocked(p *packet, r *httpH1Request) {
	c := t.connLocked(p)
	// After a head the kernel does not parse, the next is likely the same:
	// given back, the connection would come here again at once.
	c.handedOver = r.Why != httpH1WhyH1WHY_HEAD
	// The kernel's record is the connection's whole state: anything still
	// waiting here from an earlier turn is owed no response.
	t.dropped[dropEvicted] += uint64(len(c.waiting))
	c.waiting, c.heads, c.owed = c.waiting[:0], c.heads[:0], false
	for d := range c.streams {
		s := &c.streams[d]
		s.partial = nil
		s.accounted, s.next = r.Seen[d] != 0, r.NextSeq[d]
		s.inBody, s.bodyEnd, s.unframed = r.Body[d] != 0, r.BodyEnd[d], false
	}
	if r.State != httpH1StateH1WAITING {
		return
	}
	h := kernelHead(r)
	req := request{method: h.method, bootNs: r.ReqNs, server: r.Server != 0}
	c.keepHead(&req, &h)
	c.waiting = append(c.waiting, req)
}

// giveBackLocked offers a connection the kernel handed over back to it
// once nothing waits and nobody listens, at the byte where the next
// request would start: the kernel takes it only if that request is the
// next head it sees, so that no head sent here is left unanswered. Under
// back-to-back requests the next one has most often gone to the ring
// before its response is read here: the connection comes back at the
// first pause longer than the reader's delay (a millisecond or more).
func (t *tracker) giveBackLocked(c *conn, p *packet) {
	if !c.handedOver || p.heard || len(c.waiting) > 0 || c.upgraded || c.owed {
		return
	}
	d := direction(!p.egress) // the requests'
	s := &c.streams[d]
	if s.partial != nil || !s.accounted || s.unframed { // a chunked body: where it ends is unknown
		return
	}
	next := s.next
	if s.inBody && int32(s.bodyEnd-next) > 0 {
		next = s.bodyEnd
	}
	t.giveBack(p.cookie, d, next)
}

// kernelDoneLocked keeps a request the kernel matched and counted, sent
// because it may be notable.
func (t *tracker) kernelDoneLocked(p *packet, r *httpH1Request) {
	status := int(r.Status)
	h := kernelHead(r)
	server := r.Server != 0
	t.keepNotableLocked(p.cgroup, r.ReqNs, p.bootNs, failingStatus(status), func() events.HTTP {
		path, truncated := h.path()
		return detail(h.token, path, truncated, h.version, server, status, p)
	})
}

// kernelCounts adds the kernel's counts and durations to stats.
func (p *Probe) kernelCounts(stats map[uint64]*workloadStats) error {
	if p.objs == nil || p.bpf.H1Requests == nil { // closed
		return nil
	}
	add := func(id uint64) *workloadStats {
		ws := stats[id]
		if ws == nil {
			ws = newWorkloadStats()
			stats[id] = ws
		}
		return ws
	}
	err := probe.ForEachPerCPU(p.bpf.H1Requests, func(k httpH1RequestKey, perCPU []uint64) {
		var n uint64
		for _, v := range perCPU {
			n += v
		}
		add(k.CgroupId).requests[requestKey{server: k.Server != 0, method: methodName(k.Method), status: int(k.Status)}] += n
	})
	if err != nil {
		return err
	}
	return probe.ForEachPerCPU(p.bpf.H1Durations, func(k httpH1DurationKey, perCPU []series.Log2Hist) {
		ws := add(k.CgroupId)
		for i := range perCPU {
			ws.duration[serverIndex(k.Server != 0)].Add(&perCPU[i])
		}
	})
}

// forgetKernel deletes the kernel's entries of cgroups that are gone.
func (p *Probe) forgetKernel(ids []uint64) {
	if p.bpf.H1Requests == nil || len(ids) == 0 {
		return
	}
	gone := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
		_ = p.bpf.H1Notable.Delete(id)
	}
	deleteWhere(p.bpf.H1Requests, func(k *httpH1RequestKey) bool { return gone[k.CgroupId] })
	deleteWhere(p.bpf.H1Durations, func(k *httpH1DurationKey) bool { return gone[k.CgroupId] })
}

// deleteWhere deletes the keys of m that gone picks.
func deleteWhere[K any](m *ebpf.Map, gone func(*K) bool) {
	var (
		key, next K
		doom      []K
		after     any // nil: the first key
	)
	for m.NextKey(after, &next) == nil {
		if gone(&next) {
			doom = append(doom, next)
		}
		key, after = next, &key
	}
	for i := range doom {
		_ = m.Delete(&doom[i])
	}
}

// giveBack offers the kernel a connection it handed over (tracker.giveBack).
func (p *Probe) giveBack(cookie uint64, dir int, seq uint32) {
	if p.bpf.H1Returns != nil {
		// Full: the least recently offered gives way, and stays here.
		_ = p.bpf.H1Returns.Put(cookie, httpH1Return{Seq: seq, Dir: uint32(dir)})
	}
}

// setSlowest tells the kernel how slow a request of cgroup must be to make
// its slow list in window (forget: the list is gone).
func (p *Probe) setSlowest(cgroup, window, latencyNs uint64, forget bool) {
	if p.bpf.H1Notable == nil {
		return
	}
	if forget {
		_ = p.bpf.H1Notable.Delete(cgroup)
		return
	}
	// Full (MaxNotableWorkloads past the map's bound): the kernel sends
	// every request of the workload, which user space sorts as before.
	_ = p.bpf.H1Notable.Put(cgroup, httpH1Slowest{Window: window, LatencyNs: latencyNs})
}
