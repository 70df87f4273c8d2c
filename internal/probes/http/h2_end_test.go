package http

import (
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/probes/http/internal/keepalive"
	"github.com/orb8/orb8/internal/testutil"
)

// Requests with gRPC's content type to a plain HTTP/2 server (net/http,
// h2c) whose responses end without trailers: on END_STREAM of a DATA
// frame (200, a body over several frames), of HEADERS (404, no body), or
// after a 503's body; /slow answers after endSlowAfter.
const (
	endPrefix    = "/orb8.NoTrailers/"
	endSlowAfter = 2500 * time.Millisecond
)

var endPaths = map[string]int{endPrefix + "Body": 200, endPrefix + "Unavailable": 503, endPrefix + "Empty": 404, endPrefix + "Slow": 200}

// endServe serves endPaths over h2c on a loopback port it prints.
func endServe() error {
	return serveH2C(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case endPrefix + "Body":
			w.Header().Set("content-type", "application/grpc")
			io.WriteString(w, strings.Repeat("d", 40_000))
		case endPrefix + "Unavailable":
			w.Header().Set("content-type", "text/plain")
			w.WriteHeader(nethttp.StatusServiceUnavailable)
			io.WriteString(w, "unavailable\n")
		case endPrefix + "Slow":
			time.Sleep(endSlowAfter)
			w.Header().Set("content-type", "application/grpc")
		default:
			w.WriteHeader(nethttp.StatusNotFound)
		}
	}))
}

// endClient sends, over one h2c connection, POSTs with gRPC's content type:
// args are the port, then path and count pairs, in order. It prints "done".
func endClient(args []string) error {
	if len(args) < 3 || len(args)%2 != 1 {
		return errors.New("want port, then path and count pairs")
	}
	c := &nethttp.Client{Transport: &nethttp.Transport{Protocols: h2cOnly()}}
	base := "http://" + net.JoinHostPort(loopback(), args[0])
	for i := 1; i < len(args); i += 2 {
		n, _ := strconv.Atoi(args[i+1])
		for range n {
			req, err := nethttp.NewRequest(nethttp.MethodPost, base+args[i], strings.NewReader("\x00\x00\x00\x00\x00"))
			if err != nil {
				return err
			}
			req.Header.Set("content-type", "application/grpc")
			resp, err := keepalive.Fetch(c, req)
			if err != nil {
				return err
			}
			if resp.StatusCode != endPaths[args[i]] || resp.ProtoMajor != 2 {
				return fmt.Errorf("%s: %s %d, want HTTP/2 %d", args[i], resp.Proto, resp.StatusCode, endPaths[args[i]])
			}
		}
	}
	fmt.Println("done")
	return nil
}

// Each gRPC-typed request whose response ends without a grpc-status is
// counted once on each side, as a plain HTTP/2 request by its :status,
// and none is left waiting: the kernel sends the END_STREAM of the
// response's last DATA frame.
func TestH2ResponseEndsWithoutTrailersInKernel(t *testing.T) {
	const body, unavailable, empty = 13, 5, 4
	f := start(t)
	server := testutil.StartPiped(t, f.server.Helper(t, "end-serve"))
	cmd := f.client.Helper(t, "end-client", port(t, server), endPrefix+"Body", strconv.Itoa(body),
		endPrefix+"Unavailable", strconv.Itoa(unavailable), endPrefix+"Empty", strconv.Itoa(empty))
	if out, err := cmd.Output(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	f.expectBothSides(t, map[[2]string]float64{{"POST", "200"}: body, {"POST", "503"}: unavailable, {"POST", "404"}: empty})
	f.expectNoGRPC(t)
	if n := f.waitingStreams(endPrefix); n != 0 {
		t.Errorf("%d streams still wait, want none", n)
	}
}

// With a one-second stream timeout a request answered after 2.5 s is given
// up on each side (h2_stream_timeout), its late response unmatched, while
// those before and after it on the connection are counted.
func TestH2StreamTimeoutInKernel(t *testing.T) {
	const before, after = 3, 2
	cfg := DefaultConfig()
	cfg.H2StreamTimeout = time.Second
	f := startWith(t, NewWithConfig(cfg))
	server := testutil.StartPiped(t, f.server.Helper(t, "end-serve"))
	cmd := f.client.Helper(t, "end-client", port(t, server), endPrefix+"Body", strconv.Itoa(before),
		endPrefix+"Slow", "1", endPrefix+"Body", strconv.Itoa(after))
	if out, err := cmd.Output(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	f.expectBothSides(t, map[[2]string]float64{{"POST", "200"}: before + after})
	f.expectNoGRPC(t)
	for reason, want := range map[string]float64{"h2_stream_timeout": 2, "unmatched": 2} {
		if v, _ := testutil.Sample(t, f.reg, "orb8_http_dropped_total", map[string]string{"reason": reason}); v != want {
			t.Errorf("dropped %s = %v, want %v", reason, v, want)
		}
	}
}

// expectNoGRPC fails if the fixture's cgroups have gRPC series.
func (f *fixture) expectNoGRPC(t *testing.T) {
	t.Helper()
	for _, cg := range []*testutil.Cgroup{f.server, f.client} {
		if _, ok := testutil.Sample(t, f.reg, "orb8_grpc_requests_total", map[string]string{"cgroup": cg.Path}); ok {
			t.Errorf("%s: counted as gRPC calls: %s", cg.Path, testutil.Series(t, f.reg, "orb8_grpc_requests_total"))
		}
	}
}

// waitingStreams counts the HTTP/2 streams whose path starts with prefix
// that wait for their responses.
func (f *fixture) waitingStreams(prefix string) int {
	tr := f.probe.tracker
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, c := range tr.h2conns.All {
		for _, s := range (*c).streams.All {
			if strings.HasPrefix((*s).path, prefix) {
				n++
			}
		}
	}
	return n
}
