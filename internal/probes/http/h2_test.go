package http

import (
	"errors"
	"fmt"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probes/http/internal/keepalive"
	"github.com/orb8/orb8/internal/testutil"
)

// The gRPC tests run grpc-go over h2c (prior knowledge, as grpc-go's
// insecure credentials do): the standard health service for unary calls,
// OK for a service it serves and NOT_FOUND (5) for one it does not, and
// server reflection's bidirectional stream.

// grpcServe serves keepalive's gRPC services over h2c on a loopback port
// it prints.
func grpcServe() error {
	l, err := listen()
	if err != nil {
		return err
	}
	return keepalive.ServeGRPC(l)
}

// grpcClient runs keepalive.RunGRPC over h2c to the loopback port. Args:
// port, ok, missing, streams and, optionally, a traceparent the first call
// carries. It prints "done".
func grpcClient(args []string) error {
	if len(args) != 4 && len(args) != 5 {
		return errors.New("want port, ok, missing, streams [traceparent]")
	}
	ok, _ := strconv.Atoi(args[1])
	missing, _ := strconv.Atoi(args[2])
	streams, _ := strconv.Atoi(args[3])
	conn, err := grpc.NewClient(net.JoinHostPort(loopback(), args[0]), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := keepalive.RunGRPC(conn, ok, missing, streams, args[4:]...); err != nil {
		return err
	}
	fmt.Println("done")
	return nil
}

// h2Serve is keepalive.Handler over HTTP/2 without TLS.
func h2Serve() error { return serveH2C(keepalive.Handler) }

// serveH2C serves h over HTTP/2 without TLS (prior knowledge) on a
// loopback port it prints.
func serveH2C(h nethttp.Handler) error {
	l, err := listen()
	if err != nil {
		return err
	}
	return (&nethttp.Server{Handler: h, Protocols: h2cOnly()}).Serve(l)
}

// h2cOnly: HTTP/2 without TLS, with prior knowledge.
func h2cOnly() *nethttp.Protocols {
	var p nethttp.Protocols
	p.SetUnencryptedHTTP2(true)
	return &p
}

// h2Client is client over HTTP/2 without TLS.
func h2Client(args []string) error {
	return runKeepalive(&nethttp.Transport{Protocols: h2cOnly()}, args)
}

func TestGRPC(t *testing.T) {
	const (
		ok, missing, streams = 23, 7, 3
		calls                = ok + missing + streams
	)
	f := start(t)
	server := testutil.StartPiped(t, f.server.Helper(t, "grpc-serve"))
	cmd := f.client.Helper(t, "grpc-client", port(t, server), strconv.Itoa(ok), strconv.Itoa(missing), strconv.Itoa(streams))
	if out, err := cmd.Output(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	want := map[string]float64{"0": ok + streams, "5": missing}
	f.expectGRPC(t, f.server, "server", want)
	f.expectGRPC(t, f.client, "client", want)
	for _, cg := range []*testutil.Cgroup{f.server, f.client} {
		if _, counted := testutil.Sample(t, f.reg, "orb8_http_requests_total", map[string]string{"cgroup": cg.Path}); counted {
			t.Errorf("%s: gRPC calls counted as HTTP requests: %s", cg.Path, testutil.Series(t, f.reg, "orb8_http_requests_total"))
		}
	}
}

// expectGRPC waits until cg's gRPC calls as direction are exactly want
// (grpc_status -> count), with as many in the duration histogram.
func (f *fixture) expectGRPC(t *testing.T, cg *testutil.Cgroup, direction string, want map[string]float64) {
	t.Helper()
	var total float64
	for code, n := range want {
		total += n
		labels := map[string]string{"cgroup": cg.Path, "direction": direction, "grpc_status": code}
		value := func() float64 { v, _ := testutil.Sample(t, f.reg, "orb8_grpc_requests_total", labels); return v }
		testutil.Eventually(t, 3*time.Second, func() bool { return value() == n },
			"calls %v = %v, want %v; series: %s", labels, value(), n, testutil.Series(t, f.reg, "orb8_grpc_requests_total"))
	}
	time.Sleep(100 * time.Millisecond) // settled: nothing more may arrive
	var got float64
	for _, dir := range directionLabels {
		for code := range maxGRPCStatus + 1 {
			v, ok := testutil.Sample(t, f.reg, "orb8_grpc_requests_total", map[string]string{"cgroup": cg.Path, "direction": dir, "grpc_status": strconv.Itoa(code)})
			if ok && dir != direction {
				t.Errorf("%s counted %v calls as %s, want none", cg.Path, v, dir)
			}
			got += v
		}
	}
	if got != total {
		t.Errorf("%s: %v gRPC calls, want %v; series: %s", cg.Path, got, total, testutil.Series(t, f.reg, "orb8_grpc_requests_total"))
	}
	h := testutil.Histogram(t, f.reg, "orb8_grpc_request_duration_seconds", map[string]string{"cgroup": cg.Path, "direction": direction})
	if h == nil || float64(h.GetSampleCount()) != total || h.GetSampleSum() <= 0 {
		t.Errorf("%s gRPC duration histogram %v, want %v samples with a positive sum", cg.Path, h, total)
	}
}

// Plain HTTP/2 (net/http without TLS, prior knowledge) is counted with
// HTTP/1's families.
func TestHTTP2KeepAlive(t *testing.T) {
	f := start(t)
	server := testutil.StartPiped(t, f.server.Helper(t, "h2-serve"))
	cmd := f.client.Helper(t, "h2-client", port(t, server), strconv.Itoa(okRequests), strconv.Itoa(missingRequests), "POST")
	if out, err := cmd.Output(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	want := map[[2]string]float64{{"GET", "200"}: okRequests, {"POST", "404"}: missingRequests}
	f.expectBothSides(t, want)
}

// Each gRPC call is one http event on each side with its method, path,
// status and protocol; the first carries a traceparent, whose trace both
// sides join, the others' server spans are children of their client spans.
func TestGRPCEvents(t *testing.T) {
	const (
		ok, missing, streams = 4, 2, 1
		traceID, parentID    = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	)
	f := start(t)
	server := testutil.StartPiped(t, f.server.Helper(t, "grpc-serve"))
	serverPort := port(t, server)
	sides := f.subscribeSides(t)
	cmd := f.client.Helper(t, "grpc-client", serverPort, strconv.Itoa(ok), strconv.Itoa(missing), strconv.Itoa(streams), "00-"+traceID+"-"+parentID+"-01")
	if out, err := cmd.Output(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	got := map[string][]events.Event{}
	for side, sub := range sides {
		got[side] = receive(t, sub, ok+missing+streams)
	}
	left, lost := ok, missing
	for i := range ok + missing + streams {
		want := events.HTTP{Method: "POST", Path: "/grpc.health.v1.Health/Check", Status: 200, Protocol: "HTTP/2", GRPC: true}
		switch {
		case i >= ok+missing:
			want.Path = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
		case keepalive.MissingAt(i, left, lost):
			want.GRPCStatus = 5
			lost--
		default:
			left--
		}
		c, s := got["client"][i].HTTP, got["server"][i].HTTP
		for side, d := range map[string]*events.HTTP{"client": c, "server": s} {
			if d.Direction != side || d.Method != want.Method || d.Path != want.Path || d.Status != want.Status ||
				d.Protocol != want.Protocol || !d.GRPC || d.GRPCStatus != want.GRPCStatus || d.Latency <= 0 || d.Latency > time.Second {
				t.Errorf("%s event %d = %+v, want %+v with a latency", side, i, d, want)
			}
		}
		if i == 0 {
			if c.TraceID.String() != traceID || c.ParentSpanID.String() != parentID || s.TraceID != c.TraceID || s.ParentSpanID != c.ParentSpanID {
				t.Errorf("call with traceparent: client %s/%s, server %s/%s; want both in %s under %s", c.TraceID, c.ParentSpanID, s.TraceID, s.ParentSpanID, traceID, parentID)
			}
		} else if s.TraceID != c.TraceID || s.ParentSpanID != c.SpanID || c.ParentSpanID.IsValid() {
			t.Errorf("call %d: server span %s/%s under %s, want a child of the client's %s/%s", i, s.TraceID, s.SpanID, s.ParentSpanID, c.TraceID, c.SpanID)
		}
	}
}

// gRPC over TLS (grpc-go with TLS credentials, ALPN h2) between Go
// executables whose crypto/tls is hooked: the plaintext of each Write and
// Read is followed frame by frame from its connection's first byte, and
// the calls counted exactly on both sides, each one event per side marked
// TLS.
func TestGRPCOverGoTLS(t *testing.T) {
	const ok, missing, streams = 11, 5, 2
	bin := buildGoTLS(t)
	f := startTLS(t)
	serverPort := f.startGoTLSServer(t, bin, "grpc-serve")
	sides := f.subscribeSides(t)
	cmd := f.client.Command(t, bin, "grpc-client", serverPort, strconv.Itoa(ok), strconv.Itoa(missing), strconv.Itoa(streams))
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	want := map[string]float64{"0": ok + streams, "5": missing}
	f.expectGRPC(t, f.server, "server", want)
	f.expectGRPC(t, f.client, "client", want)
	for side, sub := range sides {
		for i, e := range receive(t, sub, ok+missing+streams) {
			if d := e.HTTP; d.Direction != side || !d.TLS || !d.GRPC || d.Protocol != "HTTP/2" || d.Status != 200 || d.Latency <= 0 || d.Latency > time.Second {
				t.Errorf("%s event %d = %+v, want a TLS gRPC call with a latency", side, i, d)
			}
		}
	}
}

// Over IPv4 without TCP timestamps (Windows' default), a packet that holds
// one small frame (a SETTINGS ACK or WINDOW_UPDATE: 9-13 bytes of payload,
// under 58 bytes in all) is walked like any other: the gRPC calls of TestGRPC
// are counted exactly, in a namespace whose TCP sends no timestamps.
func TestGRPCWithoutTCPTimestamps(t *testing.T) {
	const (
		ok, missing, streams = 23, 7, 3
	)
	f := start(t)
	ns := fmt.Sprintf("orb8-nots-%d", os.Getpid())
	for _, args := range [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.tcp_timestamps=0"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
		if args[2] == "add" {
			t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		}
	}
	server := testutil.StartPiped(t, in(ns, f.server.Helper(t, "grpc-serve")))
	cmd := in(ns, f.client.Helper(t, "grpc-client", port(t, server), strconv.Itoa(ok), strconv.Itoa(missing), strconv.Itoa(streams)))
	if out, err := cmd.Output(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	want := map[string]float64{"0": ok + streams, "5": missing}
	f.expectGRPC(t, f.server, "server", want)
	f.expectGRPC(t, f.client, "client", want)
}
