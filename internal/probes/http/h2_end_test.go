package http

import (
	"errors"
	"fmt"
	"net"
	nethttp "net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/probes/http/internal/keepalive"
	"github.com/orb8/orb8/internal/testutil"
)

// endServe serves keepalive.EndHandler over h2c on a loopback port it
// prints.
func endServe() error { return serveH2C(keepalive.EndHandler) }

// endClient runs keepalive.RunEnd over one h2c connection: args are the
// port, then path and count pairs. It prints "done".
func endClient(args []string) error {
	if len(args) == 0 {
		return errors.New("want port, then path and count pairs")
	}
	c := &nethttp.Client{Transport: &nethttp.Transport{Protocols: h2cOnly()}}
	if err := keepalive.RunEnd(c, "http://"+net.JoinHostPort(loopback(), args[0]), args[1:]); err != nil {
		return err
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
	cmd := f.client.Helper(t, "end-client", port(t, server), keepalive.EndPrefix+"Body", strconv.Itoa(body),
		keepalive.EndPrefix+"Unavailable", strconv.Itoa(unavailable), keepalive.EndPrefix+"Empty", strconv.Itoa(empty))
	if out, err := cmd.Output(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	f.expectEndsWithoutTrailers(t, body, unavailable, empty)
}

// The same over TLS between two hooked Go executables (net/http, ALPN
// h2): the plaintext of each crypto/tls call is walked the same way.
func TestH2ResponseEndsWithoutTrailersOverGoTLS(t *testing.T) {
	const body, unavailable, empty = 7, 3, 2
	bin := buildGoTLS(t)
	f := startTLS(t)
	serverPort := f.startGoTLSServer(t, bin, "end-serve")
	cmd := f.client.Command(t, bin, "end-client", serverPort, keepalive.EndPrefix+"Body", strconv.Itoa(body),
		keepalive.EndPrefix+"Unavailable", strconv.Itoa(unavailable), keepalive.EndPrefix+"Empty", strconv.Itoa(empty))
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	f.expectEndsWithoutTrailers(t, body, unavailable, empty)
}

// expectEndsWithoutTrailers: keepalive.RunEnd's requests to Body,
// Unavailable and Empty counted exactly on both sides as HTTP/2 requests,
// none as gRPC calls, none left waiting.
func (f *fixture) expectEndsWithoutTrailers(t *testing.T, body, unavailable, empty float64) {
	t.Helper()
	f.expectBothSides(t, map[[2]string]float64{{"POST", "200"}: body, {"POST", "503"}: unavailable, {"POST", "404"}: empty})
	f.expectNoGRPC(t)
	if n := f.waitingStreams(keepalive.EndPrefix); n != 0 {
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
	f := startScoped(t, NewWithConfig(cfg))
	server := testutil.StartPiped(t, f.server.Helper(t, "end-serve"))
	cmd := f.client.Helper(t, "end-client", port(t, server), keepalive.EndPrefix+"Body", strconv.Itoa(before),
		keepalive.EndPrefix+"Slow", "1", keepalive.EndPrefix+"Body", strconv.Itoa(after))
	if out, err := cmd.Output(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	f.expectBothSides(t, map[[2]string]float64{{"POST", "200"}: before + after})
	f.expectNoGRPC(t)
	if n := f.waitingStreams(keepalive.EndPrefix); n != 0 {
		t.Errorf("%d streams still wait, want none", n)
	}
	// The probe sees the test's cgroups alone: its drops are theirs.
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
