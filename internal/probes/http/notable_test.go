package http

import (
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/probes/http/internal/keepalive"
	"github.com/orb8/orb8/internal/testutil"
)

// exchanger feeds a tracker requests and responses of one server socket end
// per cgroup, each over at a latency it is given.
type exchanger struct {
	tr  *tracker
	seq map[uint64]*[2]uint32 // by cgroup: next sequence numbers (egress, ingress)
	ns  uint64
}

func newExchanger(cfg Config) *exchanger {
	return &exchanger{tr: newTracker(cfg), seq: map[uint64]*[2]uint32{}, ns: uint64(time.Hour)}
}

// exchange has cgroup serve GET path with status after latency, then lets
// 1 µs pass.
func (x *exchanger) exchange(cgroup uint64, path string, status int, latency time.Duration) {
	seq := x.seq[cgroup]
	if seq == nil {
		seq = &[2]uint32{1000, 5000}
		x.seq[cgroup] = seq
	}
	req := []byte("GET " + path + "?q=1 HTTP/1.1\r\nHost: a\r\n\r\n")
	resp := []byte(fmt.Sprintf("HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n", status))
	client, server := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80")
	x.tr.packet(&packet{bootNs: x.ns, cgroup: cgroup, cookie: cgroup, src: client, dst: server, seq: seq[1], length: len(req), data: req})
	x.ns += uint64(latency)
	x.tr.packet(&packet{bootNs: x.ns, cgroup: cgroup, cookie: cgroup, egress: true, src: server, dst: client, seq: seq[0], length: len(resp), data: resp})
	seq[1] += uint32(len(req))
	seq[0] += uint32(len(resp))
	x.ns += uint64(time.Microsecond)
}

// lists are the paths of the recent slowest and failing requests of cgroup,
// as notableRequests returns them.
func (x *exchanger) lists(cgroup uint64, nowNs uint64) (slowest, failing []string) {
	for _, k := range x.tr.notableRequests(nowNs) {
		if k.cgroup != cgroup {
			continue
		}
		if k.failing {
			failing = append(failing, k.detail.Path)
		} else {
			slowest = append(slowest, fmt.Sprintf("%s %v", k.detail.Path, k.detail.Latency))
		}
	}
	return slowest, failing
}

// A request's detail is built only when it makes a list: slower than the
// eighth slowest of its window, or failing.
func TestNotableBuildsOnlyWhatItKeeps(t *testing.T) {
	x := newExchanger(DefaultConfig())
	for i := range 8 {
		x.exchange(1, fmt.Sprintf("/a%d", i), 200, 10*time.Millisecond)
	}
	for range 20 { // faster than every kept one: neither slow nor failing
		x.exchange(1, "/fast", 200, time.Millisecond)
	}
	if x.tr.notableBuilt != 8 {
		t.Fatalf("%d details built, want 8", x.tr.notableBuilt)
	}
	x.exchange(1, "/slow", 404, 50*time.Millisecond)
	for range 3 {
		x.exchange(1, "/fail", 503, time.Millisecond)
	}
	if x.tr.notableBuilt != 12 {
		t.Fatalf("%d details built, want 12", x.tr.notableBuilt)
	}
	slowest, failing := x.lists(1, x.ns)
	want := []string{"/slow 50ms", "/a0 10ms", "/a1 10ms", "/a2 10ms", "/a3 10ms", "/a4 10ms", "/a5 10ms", "/a6 10ms"}
	if fmt.Sprint(slowest) != fmt.Sprint(want) {
		t.Errorf("slowest %v, want %v", slowest, want)
	}
	if fmt.Sprint(failing) != "[/fail /fail /fail]" {
		t.Errorf("failing %v, want three /fail", failing)
	}
	// Still recent one window on; gone two windows on.
	if s, f := x.lists(1, x.ns+notableWindow); len(s) != 8 || len(f) != 3 {
		t.Errorf("a window on: %d slowest, %d failing; want 8, 3", len(s), len(f))
	}
	if s, f := x.lists(1, x.ns+2*notableWindow); len(s) != 0 || len(f) != 0 {
		t.Errorf("two windows on: %v, %v; want none", s, f)
	}
	x.tr.forget([]uint64{1})
	if s, f := x.lists(1, x.ns); len(s) != 0 || len(f) != 0 {
		t.Errorf("forgotten: %v, %v; want none", s, f)
	}
}

// The failing list keeps the eight most recent; a new window's slowest
// start over while the last window's still count.
func TestNotableRotates(t *testing.T) {
	x := newExchanger(DefaultConfig())
	for i := range 10 {
		x.exchange(1, fmt.Sprintf("/f%d", i), 500+i, time.Millisecond)
	}
	_, failing := x.lists(1, x.ns)
	if fmt.Sprint(failing) != "[/f8 /f9 /f2 /f3 /f4 /f5 /f6 /f7]" {
		t.Errorf("failing %v, want /f2 to /f9", failing)
	}
	x.ns += notableWindow
	x.exchange(1, "/next", 200, 2*time.Millisecond)
	slowest, _ := x.lists(1, x.ns)
	if len(slowest) != 8 || slowest[0] != "/next 2ms" {
		t.Errorf("slowest %v, want /next first of 8", slowest)
	}
}

// Workloads past MaxNotableWorkloads push out the least recently put, whose
// kept requests are counted dropped.
func TestNotableWorkloadsBound(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxNotableWorkloads = 2
	x := newExchanger(cfg)
	for id := uint64(1); id <= 3; id++ {
		x.exchange(id, "/x", 500, time.Millisecond)
	}
	_, dropped := x.tr.snapshot()
	// Cgroup 1's request is both slowest and failing: two kept.
	if dropped[dropNotableEvicted] != 2 {
		t.Errorf("notable_evicted %d, want 2", dropped[dropNotableEvicted])
	}
	if s, f := x.lists(1, x.ns); len(s)+len(f) != 0 {
		t.Errorf("evicted cgroup still has %v %v", s, f)
	}
	if s, f := x.lists(3, x.ns); len(s) != 1 || len(f) != 1 {
		t.Errorf("cgroup 3: %v %v, want one of each", s, f)
	}
}

// slowFor is how long notableServe takes to answer /slow.
const slowFor = 300 * time.Millisecond

// notableServe is a net/http server on a loopback port it prints: /fail
// answers 500, /slow 200 after slowFor, anything else 200.
func notableServe() error {
	l, err := listen()
	if err != nil {
		return err
	}
	return nethttp.Serve(l, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/fail":
			w.WriteHeader(nethttp.StatusInternalServerError)
		case "/slow":
			time.Sleep(slowFor)
		}
		io.WriteString(w, "ok\n")
	}))
}

// getPaths GETs each path (with a query string) in turn over one keep-alive
// connection to the loopback port: args are the port, then the paths. It
// prints "done".
func getPaths(args []string) error {
	c := &nethttp.Client{}
	for _, path := range args[1:] {
		resp, err := c.Get("http://" + net.JoinHostPort(loopback(), args[0]) + path + keepalive.QuerySuffix)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	fmt.Println("done")
	return nil
}

// A server answers 30 requests: 5 with 500, one slowly. On each side the
// failing list is exactly the five, the slowest list the slow one first
// and 7 others (eight in all, of 30 finished), each with its path and peer.
func TestNotableRequests(t *testing.T) {
	f := start(t)
	server := testutil.StartPiped(t, f.server.Helper(t, "notable-serve"))
	serverPort := port(t, server)
	var paths []string
	for i := range 30 {
		switch {
		case i == 17:
			paths = append(paths, "/slow")
		case i%6 == 1:
			paths = append(paths, "/fail")
		default:
			paths = append(paths, fmt.Sprintf("/ok/%d", i))
		}
	}
	cmd := f.helper(t, f.client, "get-paths", append([]string{serverPort}, paths...)...)
	if out, err := cmd.Output(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	for side, cg := range map[string]*testutil.Cgroup{"server": f.server, "client": f.client} {
		var slowest, failing []NotableRequest
		testutil.Eventually(t, 3*time.Second, func() bool {
			slowest, failing = nil, nil
			for _, r := range f.probe.NotableRequests() {
				if r.Workload.Path != cg.Path {
					continue
				}
				if r.Failing {
					failing = append(failing, r)
				} else {
					slowest = append(slowest, r)
				}
			}
			return len(slowest) == notableKeep && len(failing) == 5
		}, "%s: %d slowest, %d failing; want 8 and 5", side, len(slowest), len(failing))
		for _, r := range failing {
			if d := r.HTTP; d.Path != "/fail" || d.Status != 500 || d.Method != "GET" || d.Direction != side || d.Latency <= 0 {
				t.Errorf("%s failing %+v, want GET /fail answered 500", side, d)
			}
		}
		d := slowest[0].HTTP
		peerOK := d.Peer.Addr().String() == "127.0.0.1" && (strconv.Itoa(int(d.Peer.Port())) == serverPort) == (side == "client")
		if d.Path != "/slow" || d.Status != 200 || d.Latency < slowFor || d.Latency > slowFor+time.Second || d.Protocol != "HTTP/1.1" || !peerOK {
			t.Errorf("%s slowest %+v, want /slow answered 200 after %v, the other end as peer", side, d, slowFor)
		}
		if age := time.Since(slowest[0].Time); age < slowFor || age > time.Minute {
			t.Errorf("%s slowest started %v ago", side, age)
		}
		for _, r := range slowest[1:] {
			if r.HTTP.Latency >= d.Latency {
				t.Errorf("%s: %+v listed after the slowest", side, r.HTTP)
			}
		}
	}
}

// TestHeadsBufferBoundedAfterALostResponse: a keep-alive connection whose
// one response was lost keeps a request waiting for good; its buffer of
// methods and paths stays small through 10,000 more requests, and the
// requests still answered are matched as before.
func TestHeadsBufferBoundedAfterALostResponse(t *testing.T) {
	c := newConversation(t, DefaultConfig())
	c.send(true, getReq, -1, false) // its response is lost
	for range 10000 {
		c.send(true, getReq, -1, false)
		c.send(false, ok2, -1, false)
	}
	conn, ok := c.tr.conns.Get(7)
	if !ok {
		t.Fatal("no connection")
	}
	if len(conn.waiting) != 1 || len(conn.heads) > 64 {
		t.Errorf("%d requests waiting, heads buffer %d bytes; want 1 and a few bytes", len(conn.waiting), len(conn.heads))
	}
	h := conn.waiting[0].head
	if got := string(conn.heads[h.start:h.tokenEnd]) + " " + string(conn.heads[h.tokenEnd:h.end]); got != "GET /" {
		t.Errorf("the waiting request's head reads %q, want %q", got, "GET /")
	}
}
