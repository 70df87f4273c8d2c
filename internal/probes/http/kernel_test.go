package http

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

// A keep-alive connection's requests are matched and counted in the kernel:
// exact on both sides, and the ring carries no record per request (only the
// few that may be notable, the first of each workload's slow list).
func TestKernelCountsWithoutRecords(t *testing.T) {
	const ok, missing = 150, 50
	f := startScoped(t, New())
	server := testutil.StartPiped(t, f.server.Helper(t, "serve"))
	before := f.probe.objs.EventsRead()
	f.runClient(t, port(t, server), ok, missing, "POST")

	f.expectBothSides(t, map[[2]string]float64{{"GET", "200"}: ok, {"POST", "404"}: missing})
	kernel := f.kernelRequests(t)
	if kernel[true] != ok+missing || kernel[false] != ok+missing {
		t.Errorf("kernel counted %d as server and %d as client, want %d each", kernel[true], kernel[false], ok+missing)
	}
	// Four heads per request went to user space before: 800 records.
	t.Logf("%d ring records", f.probe.objs.EventsRead()-before)
	if n := f.probe.objs.EventsRead() - before; n > (ok+missing)/2 {
		t.Errorf("%d ring records for %d requests, want the notable ones only", n, ok+missing)
	}
	// The records were notable requests, not heads: user space followed no connection.
	if n := f.userConns(); n != 0 {
		t.Errorf("user space followed %d connections, want none", n)
	}
}

// userConns is how many socket ends user space follows.
func (f *fixture) userConns() int {
	f.probe.tracker.mu.Lock()
	defer f.probe.tracker.mu.Unlock()
	return f.probe.tracker.conns.Len()
}

// kernelRequests are the requests the kernel counted, by side (server: true).
func (f *fixture) kernelRequests(t *testing.T) map[bool]uint64 {
	t.Helper()
	kernel := map[bool]uint64{}
	err := probe.ForEachPerCPU(f.probe.bpf.H1Requests, func(k httpH1RequestKey, perCPU []uint64) {
		for _, n := range perCPU {
			kernel[k.Server != 0] += n
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return kernel
}

// A listener takes a connection the kernel followed over: the requests
// while it listens are its events, every request is counted once, and the
// kernel takes the connection back once the listener is gone.
func TestListenerTakesConnectionOver(t *testing.T) {
	const before, during, after = 10, 7, 5
	f := startScoped(t, New())
	server := testutil.StartPiped(t, f.server.Helper(t, "serve"))
	// The last batch is paced: user space offers the connection back once
	// it has read a response, which under back-to-back requests comes
	// after the next request has gone to it (see giveBackLocked).
	client := testutil.StartPiped(t, f.client.Helper(t, "batches", port(t, server), strconv.Itoa(before), strconv.Itoa(during), strconv.Itoa(after)+"p"))
	next := func(want string) {
		t.Helper()
		line, err := client.Stdout.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != want {
			t.Fatalf("client said %q (%v), want %q", line, err, want)
		}
	}
	next("1")
	f.expectBothSides(t, map[[2]string]float64{{"GET", "200"}: before})
	sides := f.subscribeSides(t)
	fmt.Fprintln(client.Stdin)
	next("2")
	for side, sub := range sides {
		for i, e := range receive(t, sub, during) {
			if d := e.HTTP; d.Direction != side || d.Method != "GET" || d.Path != "/ok" || d.Status != 200 {
				t.Errorf("%s event %d = %+v", side, i, d)
			}
		}
		f.bus.Unsubscribe(sub)
	}
	fmt.Fprintln(client.Stdin)
	next("done")
	f.expectBothSides(t, map[[2]string]float64{{"GET", "200"}: before + during + after})
	// Back in the kernel from the second request after the listener left:
	// user space offers the connection back once the first is answered.
	kernel := f.kernelRequests(t)
	if want := uint64(before + after - 1); kernel[true] != want || kernel[false] != want {
		t.Errorf("kernel counted %d as server and %d as client, want %d each", kernel[true], kernel[false], want)
	}
}

// An interim response (100 Continue before the final one) hands the
// connection over with the request the kernel had waiting: each request
// is counted once, with its final status, on both sides.
func TestInterimResponseHandsOver(t *testing.T) {
	const n = 6
	f := startScoped(t, New())
	server := testutil.StartPiped(t, f.server.Helper(t, "continue-serve"))
	f.runBatches(t, port(t, server), n)
	f.expectBothSides(t, map[[2]string]float64{{"GET", "200"}: n})
}

// Requests pipelined in one segment are several heads in one packet: the
// kernel hands the connection over and user space counts each.
func TestPipelinedRequestsHandOver(t *testing.T) {
	const rounds, depth = 4, 3
	f := startScoped(t, New())
	server := testutil.StartPiped(t, f.server.Helper(t, "serve"))
	cmd := f.client.Helper(t, "pipeline-client", port(t, server), strconv.Itoa(rounds), strconv.Itoa(depth))
	if out, err := cmd.Output(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	f.expectBothSides(t, map[[2]string]float64{{"GET", "200"}: rounds * depth})
}

// runBatches runs the batches client with one batch of n requests.
func (f *fixture) runBatches(t *testing.T, port string, n int) {
	t.Helper()
	cmd := f.client.Helper(t, "batches", port, strconv.Itoa(n))
	if out, err := cmd.Output(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
}

// batches sends batches of GET /ok over one keep-alive connection to the
// loopback port (args: port, then each batch's size, with a "p" after it
// for 50 ms between its requests): after each batch but the last it prints
// the batch's number and waits for a line on stdin.
func batches(args []string) error {
	if len(args) < 2 {
		return errors.New("want port and batch sizes")
	}
	var dials atomic.Int32
	transport := &nethttp.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	c := &nethttp.Client{Transport: transport}
	in := bufio.NewReader(os.Stdin)
	for b, arg := range args[1:] {
		if b > 0 {
			fmt.Println(b)
			if _, err := in.ReadString('\n'); err != nil {
				return err
			}
		}
		size, paced := strings.CutSuffix(arg, "p")
		n, _ := strconv.Atoi(size)
		for i := range n {
			if paced && i > 0 {
				time.Sleep(50 * time.Millisecond)
			}
			resp, err := c.Get("http://127.0.0.1:" + args[0] + "/ok")
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != nethttp.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
		}
	}
	if n := dials.Load(); n != 1 {
		return fmt.Errorf("%d connections, want 1", n)
	}
	fmt.Println("done")
	return nil
}

// continueServe answers every request on a loopback port it prints with a
// 100 Continue and, in a segment of its own, 200 and "ok".
func continueServe() error {
	return serveConns(func(c *net.TCPConn, _ *nethttp.Request) error {
		return writePieces(c, []string{"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"})
	})
}

// pipelineClient writes depth GET requests in one write, rounds times over
// one connection to the loopback port, reading the responses of each round
// before the next, and prints "done".
func pipelineClient(args []string) error {
	if len(args) != 3 {
		return errors.New("want port, rounds, depth")
	}
	rounds, _ := strconv.Atoi(args[1])
	depth, _ := strconv.Atoi(args[2])
	c, err := net.Dial("tcp", "127.0.0.1:"+args[0])
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	req := strings.Repeat("GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", depth)
	for range rounds {
		if _, err := io.WriteString(c, req); err != nil {
			return err
		}
		for range depth {
			if err := readResponse(r, nethttp.MethodGet, nethttp.StatusOK); err != nil {
				return err
			}
		}
	}
	fmt.Println("done")
	return nil
}

// The request line the kernel keeps gives a notable request's method and
// path, whole or cut, with spaces in the target as parse.go reads them.
func TestKernelHead(t *testing.T) {
	for _, c := range []struct {
		kept      string
		line      int // the whole line's length
		token     string
		target    string
		targetCut bool
	}{
		{"GET /a/b?q=1 HTTP/1.1", 21, "GET", "/a/b?q=1", false},
		{"GET /a b HTTP/1.1", 17, "GET", "/a b", false},
		{"POST /long/path/cut/her", 200, "POST", "/long/path/cut/her", true},
		{"POST /done", 19, "POST", "/done", false},
		{"POST /d one HT", 20, "POST", "/d one", false},
	} {
		var r httpH1Request
		r.LineLen, r.LineEnd = uint8(copy(r.Line[:], c.kept)), uint16(c.line)
		r.Method, r.Version = httpH1MethodH1GET, '1'
		h := kernelHead(&r)
		if string(h.token) != c.token || string(h.target) != c.target || h.targetCut != c.targetCut || h.version != '1' || !h.request {
			t.Errorf("%q: token %q target %q cut %v, want %q %q %v", c.kept, h.token, h.target, h.targetCut, c.token, c.target, c.targetCut)
		}
	}
}

// A hand-over gives user space the request the kernel had waiting: the
// response that follows is matched to it, with the kernel's timestamp.
func TestHandOverSeedsTracker(t *testing.T) {
	tr := newTracker(DefaultConfig())
	var offers []string
	tr.giveBack = func(cookie uint64, dir int, seq uint32) { offers = append(offers, fmt.Sprint(cookie, dir, seq)) }
	var r httpH1Request
	r.State, r.Method, r.Server, r.Version, r.ReqNs = httpH1StateH1WAITING, httpH1MethodH1PUT, 1, '1', 1000
	r.Why = httpH1WhyH1WHY_MESSAGE
	r.LineLen = uint8(copy(r.Line[:], "PUT /x HTTP/1.1"))
	r.LineEnd = uint16(r.LineLen)
	r.Seen[1], r.NextSeq[1] = 1, 500
	tr.packet(&packet{cgroup: 7, cookie: 3, kernel: &r, handOver: true})
	// A retransmission of the request the kernel saw is not a request.
	tr.packet(&packet{cgroup: 7, cookie: 3, seq: 400, length: 40, data: []byte("PUT /x HTTP/1.1\r\nHost: a\r\n\r\n")})
	resp := "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
	tr.packet(&packet{cgroup: 7, cookie: 3, egress: true, bootNs: 5000, seq: 90, length: len(resp), data: []byte(resp)})
	// Nothing else waits: a second response has no request.
	tr.packet(&packet{cgroup: 7, cookie: 3, egress: true, bootNs: 6000, seq: 90 + uint32(len(resp)), length: len(resp), data: []byte(resp)})
	stats, dropped := tr.snapshot()
	ws := stats[7]
	want := [numDropReasons]uint64{dropUnmatched: 1}
	if ws == nil || ws.requests[requestKey{server: true, method: "PUT", status: 201}] != 1 || len(ws.requests) != 1 ||
		ws.duration[1].SumNs != 4000 || dropped != want {
		t.Fatalf("stats %+v, dropped %v; want one PUT 201 as server, 4 us, one response unmatched", ws, dropped)
	}
	// Answered, nothing waits: offered back at the next request's byte.
	if want := []string{"3 1 500"}; fmt.Sprint(offers) != fmt.Sprint(want) {
		t.Errorf("offered back %v, want %v", offers, want)
	}
}

// A notable request the kernel sends is kept with its detail, and once a
// workload's slow list is full the kernel learns the latency to beat.
func TestKernelDoneKeepsNotable(t *testing.T) {
	tr := newTracker(DefaultConfig())
	type told struct{ cgroup, window, latency uint64 }
	var got []told
	tr.slowest = func(cgroup, window, latency uint64, forget bool) {
		if !forget {
			got = append(got, told{cgroup, window, latency})
		}
	}
	end := 3 * notableWindow
	for i := range notableKeep {
		var r httpH1Request
		r.Method, r.Server, r.Version, r.Status, r.ReqNs = httpH1MethodH1GET, 1, '1', 200, end-uint64(i+1)*1000
		r.LineLen = uint8(copy(r.Line[:], "GET /slow?id=1 HTTP/1.1"))
		r.LineEnd = uint16(r.LineLen)
		tr.packet(&packet{cgroup: 9, cookie: 1, egress: true, bootNs: end, kernel: &r})
	}
	if want := []told{{9, 3, 1000}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("told %v, want %v", got, want)
	}
	kept := tr.notableRequests(end)
	if len(kept) != notableKeep {
		t.Fatalf("%d kept, want %d", len(kept), notableKeep)
	}
	d := kept[0].detail
	if d.Method != "GET" || d.Path != "/slow" || d.Status != 200 || d.Direction != "server" || d.Protocol != "HTTP/1.1" || d.Latency != 8*time.Microsecond {
		t.Errorf("slowest = %+v", d)
	}
	if stats, _ := tr.snapshot(); len(stats) != 0 {
		t.Errorf("the kernel's notable requests were counted again: %v", stats)
	}
}

// framingExchanges are requests and responses, each in the writes given
// (a segment each), whose framing the kernel follows: a chunked response,
// a response to HEAD and a 204 without a body, and bodies in a segment of
// their own that start like a head in either direction.
var framingExchanges = []struct {
	method, path string
	request      []string
	response     []string
	status       int
}{
	{"GET", "/chunked", []string{"GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n"},
		[]string{"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, 200},
	{"HEAD", "/head", []string{"HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n"},
		[]string{"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n"}, 200},
	{"GET", "/empty", []string{"GET /empty HTTP/1.1\nHost: a\n\n"}, []string{"HTTP/1.1 204 No Content\r\n\r\n"}, 204},
	{"GET", "/body", []string{"GET /body HTTP/1.1\r\nHost: a\r\n\r\n"},
		[]string{"HTTP/1.1 200 OK\r\nContent-Length:  19 \r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"}, 200},
	{"POST", "/post", []string{"POST /post HTTP/1.1\r\nHost: a\r\nContent-Length: 19\r\n\r\n", "GET /x HTTP/1.1\r\n\r\n"},
		[]string{"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"}, 201},
	{"GET", "/fail", []string{"GET /fail HTTP/1.1\r\nHost: a\r\n\r\n"}, []string{"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"}, 500},
}

// The kernel follows each message's framing as user space does: every
// request counted once with its status, on both sides, without handing the
// connection over; the failing one is notable, with its path.
func TestKernelFollowsFraming(t *testing.T) {
	f := startScoped(t, New())
	server := testutil.StartPiped(t, f.server.Helper(t, "framing-serve"))
	before := f.probe.objs.EventsRead()
	cmd := f.client.Helper(t, "framing-client", port(t, server))
	if out, err := cmd.Output(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	want := map[[2]string]float64{}
	for _, x := range framingExchanges {
		want[[2]string{x.method, strconv.Itoa(x.status)}]++
	}
	f.expectBothSides(t, want)
	// Notable records only (every request is among the first of its
	// workload's slow list): no hand-over, no head sent on.
	if n := f.probe.objs.EventsRead() - before; n != 2*uint64(len(framingExchanges)) {
		t.Errorf("%d ring records, want %d: one notable record per request and side", n, 2*len(framingExchanges))
	}
	failing := 0
	for _, r := range f.probe.NotableRequests() {
		if r.Failing {
			failing++
			if r.HTTP.Path != "/fail" || r.HTTP.Status != 500 || r.HTTP.Method != "GET" {
				t.Errorf("failing request %+v", r.HTTP)
			}
		}
	}
	if failing != 2 {
		t.Errorf("%d failing requests kept, want 2 (one per side)", failing)
	}
}

// writePieces writes each piece as a segment of its own.
func writePieces(c net.Conn, pieces []string) error {
	for _, p := range pieces {
		if _, err := io.WriteString(c, p); err != nil {
			return err
		}
		time.Sleep(3 * time.Millisecond)
	}
	return nil
}

// framingServe answers framingExchanges on a loopback port it prints.
func framingServe() error {
	return serveConns(func(c *net.TCPConn, req *nethttp.Request) error {
		for _, x := range framingExchanges {
			if x.path == req.URL.Path {
				return writePieces(c, x.response)
			}
		}
		return fmt.Errorf("unexpected %s", req.URL.Path)
	})
}

// framingClient sends framingExchanges over one connection to the loopback
// port, each waiting for its response, and prints "done".
func framingClient(args []string) error {
	c, err := net.Dial("tcp", "127.0.0.1:"+args[0])
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for _, x := range framingExchanges {
		if err := writePieces(c, x.request); err != nil {
			return err
		}
		if err := readResponse(r, x.method, x.status); err != nil {
			return fmt.Errorf("%s: %w", x.path, err)
		}
	}
	fmt.Println("done")
	return nil
}

// A connection handed over at a head the kernel does not parse is not
// offered back: its next head is likely the same, and would bounce.
func TestNoGiveBackAfterUnparsedHead(t *testing.T) {
	tr := newTracker(DefaultConfig())
	offered := 0
	tr.giveBack = func(uint64, int, uint32) { offered++ }
	var r httpH1Request
	r.Why = httpH1WhyH1WHY_HEAD
	tr.packet(&packet{cgroup: 7, cookie: 3, kernel: &r, handOver: true})
	req := "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
	tr.packet(&packet{cgroup: 7, cookie: 3, seq: 10, length: len(req), data: []byte(req)})
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	tr.packet(&packet{cgroup: 7, cookie: 3, egress: true, seq: 20, length: len(resp), data: []byte(resp)})
	if stats, _ := tr.snapshot(); stats[7] == nil || stats[7].requests[requestKey{server: true, method: "GET", status: 200}] != 1 {
		t.Fatalf("stats %+v, want the request counted", stats[7])
	}
	if offered != 0 {
		t.Errorf("offered back %d times, want none", offered)
	}
}

// A connection is not offered back while the end of its last request's
// body is unknown (chunked), nor once a request was dropped (responses
// are owed to none), and it is once a framed request is answered.
func TestGiveBackOnlyWhenSettled(t *testing.T) {
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	for _, c := range []struct {
		name     string
		requests []string
		pipeline int
		want     int
	}{
		{"framed", []string{"POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"}, 32, 1},
		{"chunked", []string{"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"}, 32, 0},
		{"dropped", []string{"GET /a HTTP/1.1\r\n\r\n", "GET /b HTTP/1.1\r\n\r\n"}, 1, 0},
	} {
		cfg := DefaultConfig()
		cfg.MaxPipelined = c.pipeline
		tr := newTracker(cfg)
		offered := 0
		tr.giveBack = func(uint64, int, uint32) { offered++ }
		var r httpH1Request
		r.Why = httpH1WhyH1WHY_MESSAGE
		tr.packet(&packet{cgroup: 7, cookie: 3, kernel: &r, handOver: true})
		seq := uint32(10)
		for _, req := range c.requests {
			tr.packet(&packet{cgroup: 7, cookie: 3, seq: seq, length: len(req), data: []byte(req)})
			seq += uint32(len(req))
		}
		tr.packet(&packet{cgroup: 7, cookie: 3, egress: true, seq: 500, length: len(resp), data: []byte(resp)})
		if offered != c.want {
			t.Errorf("%s: offered back %d times, want %d", c.name, offered, c.want)
		}
	}
}
