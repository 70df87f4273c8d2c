package agent

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/orb8/orb8/internal/testutil"
)

// spanStatuses are the statuses the span server answers, request i getting
// spanStatuses[i%3].
var spanStatuses = [...]int{200, 404, 500}

// spanServe (helper) is a net/http server on a loopback port it prints:
// /status/CODE/... answers CODE.
func spanServe([]string) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	return nethttp.Serve(l, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		code, _ := strconv.Atoi(strings.Split(r.URL.Path, "/")[2])
		w.WriteHeader(code)
	}))
}

// carriesTraceparent says whether the span client's request i carries a
// traceparent header, with traceID(i) and parentID(i).
func carriesTraceparent(i int) bool { return i%2 == 0 }

func traceID(i int) string  { return fmt.Sprintf("4bf92f3577b34da6a3ce929d0e0e%04x", i) }
func parentID(i int) string { return fmt.Sprintf("00f067aa0ba9%04x", i) }

// spanClient (helper: PORT N) sends N GETs over one keep-alive connection:
// request i to /status/spanStatuses[i%3]/i with a query string, with a
// traceparent header when carriesTraceparent(i).
func spanClient(args []string) error {
	n, _ := strconv.Atoi(args[1])
	var dials atomic.Int32
	c := &nethttp.Client{Transport: &nethttp.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	for i := range n {
		req, err := nethttp.NewRequest(nethttp.MethodGet, fmt.Sprintf("http://127.0.0.1:%s/status/%d/%d?secret=1", args[0], spanStatuses[i%3], i), nil)
		if err != nil {
			return err
		}
		if carriesTraceparent(i) {
			req.Header.Set("Traceparent", "00-"+traceID(i)+"-"+parentID(i)+"-01")
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != spanStatuses[i%3] {
			return fmt.Errorf("request %d: status %d", i, resp.StatusCode)
		}
	}
	if dials.Load() != 1 {
		return errors.New("more than one connection")
	}
	fmt.Println("done")
	return nil
}

// TestHTTPSpansOverOTLP: a Go net/http client and server in two test
// cgroups, N requests over one keep-alive connection, every other one with
// a traceparent header. The receiver gets exactly one SERVER and one CLIENT
// span per request, with the HTTP semantic conventions' name, attributes
// and status; a request with a traceparent is a child of its span on both
// sides, and the server span of one without is a child of the client span
// of the same request (linked through the connection on this node). The
// spans go to the test's receiver over both protocols, and to a real
// OpenTelemetry Collector, which writes them to a file through the contrib
// file exporter.
func TestHTTPSpansOverOTLP(t *testing.T) {
	testutil.RequireRoot(t)
	const n = 12
	for _, tc := range []struct{ name, protocol string }{{"grpc", "grpc"}, {"http", "http"}, {"collector", "grpc"}} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				endpoint string
				received func() []testutil.ReceivedSpan
			)
			if tc.name == "collector" {
				var col *testutil.OTelCollector
				col, endpoint = testutil.StartOTelCollector(t, tc.protocol)
				received = col.Spans
			} else {
				var rcv testutil.OTLPReceiver
				endpoint, received = rcv.Serve(t, tc.protocol), rcv.Spans
			}
			url, _ := testutil.RunAgent(t, "--probes", "http", "--node-name", "node-traces",
				"--otlp-traces-endpoint", endpoint, "--otlp-protocol", tc.protocol, "--otlp-insecure")
			server, client := testutil.NewCgroup(t), testutil.NewCgroup(t)
			srv := testutil.StartPiped(t, server.Helper(t, "span-serve"))
			port, err := srv.Stdout.ReadString('\n')
			if err != nil {
				t.Fatalf("span server: %v", err)
			}
			port = strings.TrimSpace(port)
			cl := testutil.StartPiped(t, client.Helper(t, "span-client", port, strconv.Itoa(n)))
			if line, err := cl.Stdout.ReadString('\n'); err != nil || line != "done\n" {
				t.Fatalf("span client: %q %v", line, err)
			}
			ours := func() []testutil.ReceivedSpan {
				var out []testutil.ReceivedSpan
				for _, s := range received() {
					if strconv.FormatInt(s.Attrs()["server.port"].GetIntValue(), 10) == port {
						out = append(out, s)
					}
				}
				return out
			}
			testutil.Eventually(t, 20*time.Second, func() bool { return len(ours()) >= 2*n }, "spans of port %s: %d, want %d", port, len(ours()), 2*n)
			spans := ours()
			if len(spans) != 2*n {
				t.Fatalf("%d spans of port %s, want exactly %d", len(spans), port, 2*n)
			}
			byRequest := map[string]map[tracepb.Span_SpanKind]testutil.ReceivedSpan{}
			for _, s := range spans {
				path := s.Attrs()["url.path"].GetStringValue()
				if byRequest[path] == nil {
					byRequest[path] = map[tracepb.Span_SpanKind]testutil.ReceivedSpan{}
				}
				if _, dup := byRequest[path][s.GetKind()]; dup {
					t.Fatalf("two %v spans of %s", s.GetKind(), path)
				}
				byRequest[path][s.GetKind()] = s
			}
			for i := range n {
				code := spanStatuses[i%3]
				path := fmt.Sprintf("/status/%d/%d", code, i)
				srvSpan, ok1 := byRequest[path][tracepb.Span_SPAN_KIND_SERVER]
				cliSpan, ok2 := byRequest[path][tracepb.Span_SPAN_KIND_CLIENT]
				if !ok1 || !ok2 {
					t.Errorf("%s: server span %v, client span %v, want both", path, ok1, ok2)
					continue
				}
				checkHTTPSpan(t, srvSpan, port, code, code >= 500)
				checkHTTPSpan(t, cliSpan, port, code, code >= 400)
				if a, b := srvSpan.Attrs()["client.port"].GetIntValue(), cliSpan.Attrs()["client.port"].GetIntValue(); a != b || a == 0 {
					t.Errorf("%s: client.port %d on the server, %d on the client", path, a, b)
				}
				if carriesTraceparent(i) {
					for _, s := range []testutil.ReceivedSpan{srvSpan, cliSpan} {
						if hex.EncodeToString(s.GetTraceId()) != traceID(i) || hex.EncodeToString(s.GetParentSpanId()) != parentID(i) {
							t.Errorf("%s %v: trace %x parent %x, want the traceparent's %s %s", path, s.GetKind(), s.GetTraceId(), s.GetParentSpanId(), traceID(i), parentID(i))
						}
					}
				} else {
					if len(cliSpan.GetParentSpanId()) != 0 {
						t.Errorf("%s: client span has parent %x, want a new trace", path, cliSpan.GetParentSpanId())
					}
					if !bytes.Equal(srvSpan.GetTraceId(), cliSpan.GetTraceId()) || !bytes.Equal(srvSpan.GetParentSpanId(), cliSpan.GetSpanId()) {
						t.Errorf("%s: server span trace %x parent %x, want the client span's trace %x and id %x", path,
							srvSpan.GetTraceId(), srvSpan.GetParentSpanId(), cliSpan.GetTraceId(), cliSpan.GetSpanId())
					}
				}
				if bytes.Equal(srvSpan.GetSpanId(), cliSpan.GetSpanId()) {
					t.Errorf("%s: server and client spans share id %x", path, srvSpan.GetSpanId())
				}
			}
			if v, ok := testutil.Sample(t, scrape(t, url), "orb8_spans_missed_total", nil); !ok || v != 0 {
				t.Errorf("orb8_spans_missed_total = %v (present %v), want 0", v, ok)
			}
		})
	}
}

// checkHTTPSpan checks a span of a GET to the span server on port that got
// code, and whether its status is an error.
func checkHTTPSpan(t *testing.T, s testutil.ReceivedSpan, port string, code int, failed bool) {
	t.Helper()
	a := s.Attrs()
	path := a["url.path"].GetStringValue()
	if s.GetName() != "GET" || a["http.request.method"].GetStringValue() != "GET" || a["network.protocol.version"].GetStringValue() != "1.1" ||
		a["http.response.status_code"].GetIntValue() != int64(code) ||
		a["server.address"].GetStringValue() != "127.0.0.1" || a["client.address"].GetStringValue() != "127.0.0.1" {
		t.Errorf("%s %v: name %q, attributes %v", path, s.GetKind(), s.GetName(), a)
	}
	if got := s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR; got != failed {
		t.Errorf("%s %v: status %v, want error %v", path, s.GetKind(), s.GetStatus(), failed)
	}
	if failed && a["error.type"].GetStringValue() != strconv.Itoa(code) {
		t.Errorf("%s %v: error.type %v, want %d", path, s.GetKind(), a["error.type"], code)
	}
	start, end := time.Unix(0, int64(s.GetStartTimeUnixNano())), time.Unix(0, int64(s.GetEndTimeUnixNano()))
	if end.Before(start) || time.Since(start) > time.Minute || time.Until(start) > time.Second {
		t.Errorf("%s %v: from %v to %v, want a recent start and an end after it", path, s.GetKind(), start, end)
	}
	if s.Resource["k8s.node.name"].GetStringValue() != "node-traces" || s.Resource["service.name"].GetStringValue() != "orb8" {
		t.Errorf("%s %v: resource %v", path, s.GetKind(), s.Resource)
	}
}
