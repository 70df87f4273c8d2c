package http

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/http/internal/keepalive"
	"github.com/orb8/orb8/internal/testutil"
)

// The kernel tests run an HTTP server and an HTTP client as separate
// processes, each in its own test cgroup, on the loopback interface: the
// server is Python's http.server or this test binary, the client this test
// binary (testutil helpers).

func TestMain(m *testing.M) {
	testutil.Helpers(m, map[string]func([]string) error{
		"serve":           func([]string) error { return serve() },
		"echo":            func([]string) error { return echo() },
		"client":          client,
		"load":            load,
		"split-serve":     func([]string) error { return splitServe() },
		"split-client":    splitClient,
		"notable-serve":   func([]string) error { return notableServe() },
		"get-paths":       getPaths,
		"grpc-serve":      func([]string) error { return grpcServe() },
		"grpc-client":     grpcClient,
		"h2-serve":        func([]string) error { return h2Serve() },
		"h2-client":       h2Client,
		"end-serve":       func([]string) error { return endServe() },
		"end-client":      endClient,
		"batches":         batches,
		"continue-serve":  func([]string) error { return continueServe() },
		"pipeline-client": pipelineClient,
		"framing-serve":   func([]string) error { return framingServe() },
		"framing-client":  framingClient,
	})
}

// missingAt is the shared client's (keepalive).
var missingAt = keepalive.MissingAt

// listen listens on a loopback port and prints it, for the test to read
// (port) before it starts a client.
func listen() (*net.TCPListener, error) {
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP(loopback())})
	if err == nil {
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return l, err
}

// serve is a net/http server on a loopback port it prints, with
// keepalive.Handler.
func serve() error {
	l, err := listen()
	if err != nil {
		return err
	}
	return nethttp.Serve(l, keepalive.Handler)
}

// hostEnv names the loopback address the server and client helpers use
// (default 127.0.0.1).
const hostEnv = "ORB8_HTTP_HOST"

func loopback() string {
	if h := os.Getenv(hostEnv); h != "" {
		return h
	}
	return "127.0.0.1"
}

// client runs keepalive.Run over plaintext to the loopback port: args
// are port, ok, missing, missingMethod. It prints "done".
func client(args []string) error {
	return runKeepalive(&nethttp.Transport{}, args)
}

// runKeepalive is keepalive.Run through transport with client's args.
func runKeepalive(transport *nethttp.Transport, args []string) error {
	if len(args) != 4 {
		return errors.New("want port, ok, missing, missingMethod")
	}
	ok, _ := strconv.Atoi(args[1])
	missing, _ := strconv.Atoi(args[2])
	if err := keepalive.Run(transport, "http://"+net.JoinHostPort(loopback(), args[0]), ok, missing, args[3]); err != nil {
		return err
	}
	fmt.Println("done")
	return nil
}

type fixture struct {
	// host is the helpers' loopback address, "" for 127.0.0.1.
	host           string
	probe          *Probe
	reg            *prometheus.Registry
	bus            *events.Bus
	server, client *testutil.Cgroup
}

func start(t *testing.T) *fixture { return startWith(t, New()) }

// startTLS is start with HTTPS through libssl counted (--http-tls).
func startTLS(t *testing.T) *fixture { return startWith(t, NewWithOptions(Options{TLS: true})) }

// startWith starts p with a server and a client cgroup.
func startWith(t *testing.T, p *Probe) *fixture {
	t.Helper()
	f := startProbe(t, p)
	f.server, f.client = testutil.NewCgroup(t), testutil.NewCgroup(t)
	return f
}

// startBench loads the probe.
func startBench(t testing.TB) *fixture { return startProbe(t, NewWithOptions(Options{TLS: true})) }

func startProbe(t testing.TB, p *Probe) *fixture { return startProbeAt(t, p, "") }

// startScoped starts p attached below a cgroup of the test's own, whose
// children are the server and client cgroups: p sees their traffic alone,
// so its counters of all it sees (the drops) are theirs. TLS is off: its
// uprobes see every process.
func startScoped(t *testing.T, p *Probe) *fixture {
	t.Helper()
	testutil.RequireRoot(t)
	p.opts.TLS = false
	parent := testutil.NewCgroup(t)
	f := startProbeAt(t, p, parent.Dir)
	f.server, f.client = parent.Child(t, "server"), parent.Child(t, "client")
	return f
}

// startProbeAt starts p with its cgroup programs attached at root (""
// the whole machine's).
func startProbeAt(t testing.TB, p *Probe, root string) *fixture {
	t.Helper()
	testutil.RequireRoot(t)
	res := testutil.Resolver(t)
	f := &fixture{probe: p, reg: prometheus.NewPedanticRegistry(), bus: events.NewBus()}
	env := probe.Env{Resolver: res, Events: f.bus, Log: slog.Default(), CgroupRoot: cmp.Or(root, res.Root())}
	if err := f.probe.Start(context.Background(), env); err != nil {
		t.Fatalf("start http probe: %v", err)
	}
	t.Cleanup(func() { f.probe.Close() })
	f.reg.MustRegister(testutil.Collector(t, f.probe))
	return f
}

// helper is cg.Helper with the fixture's loopback address.
func (f *fixture) helper(t *testing.T, cg *testutil.Cgroup, name string, args ...string) *exec.Cmd {
	cmd := cg.Helper(t, name, args...)
	if f.host != "" {
		cmd.Env = append(cmd.Env, hostEnv+"="+f.host)
	}
	return cmd
}

// port reads the port a server prints first.
func port(t *testing.T, p *testutil.Piped) string {
	t.Helper()
	line, err := p.Stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("server's port: %v", err)
	}
	return strings.TrimSpace(line)
}

// runClient runs the client helper in the client cgroup against port.
func (f *fixture) runClient(t *testing.T, port string, ok, missing int, missingMethod string) {
	t.Helper()
	cmd := f.helper(t, f.client, "client", port, strconv.Itoa(ok), strconv.Itoa(missing), missingMethod)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil || out.String() != "done\n" {
		t.Fatalf("client: %v, said %q", err, out.String())
	}
}

// expectBothSides is expect of the server's cgroup as server and the
// client's as client: one request counted once on each side.
func (f *fixture) expectBothSides(t *testing.T, want map[[2]string]float64) {
	t.Helper()
	f.expect(t, f.server, "server", want)
	f.expect(t, f.client, "client", want)
}

// expect waits until the requests of cg are exactly want (direction,
// method, status code -> count), and the duration histogram of direction
// counts as many, and fails if cg has series of the other direction.
func (f *fixture) expect(t *testing.T, cg *testutil.Cgroup, direction string, want map[[2]string]float64) {
	t.Helper()
	var total float64
	for k, n := range want {
		total += n
		labels := map[string]string{"cgroup": cg.Path, "direction": direction, "method": k[0], "status_code": k[1]}
		value := func() float64 { v, _ := testutil.Sample(t, f.reg, "orb8_http_requests_total", labels); return v }
		testutil.Eventually(t, 3*time.Second, func() bool { return value() == n },
			"requests %v = %v, want %v; series: %s", labels, value(), n, testutil.Series(t, f.reg, "orb8_http_requests_total"))
	}
	// Settled: nothing more may arrive.
	time.Sleep(100 * time.Millisecond)
	var got float64
	for _, other := range []string{"client", "server"} {
		for k := range want {
			v, ok := testutil.Sample(t, f.reg, "orb8_http_requests_total",
				map[string]string{"cgroup": cg.Path, "direction": other, "method": k[0], "status_code": k[1]})
			if other == direction {
				got += v
			} else if ok {
				t.Errorf("%s counted %v requests as %s, want none", cg.Path, v, other)
			}
		}
	}
	if got != total {
		t.Errorf("%s: %v requests as %s, want %v; series: %s", cg.Path, got, direction, total, testutil.Series(t, f.reg, "orb8_http_requests_total"))
	}
	h := testutil.Histogram(t, f.reg, "orb8_http_request_duration_seconds", map[string]string{"cgroup": cg.Path, "direction": direction})
	if h == nil || float64(h.GetSampleCount()) != total || h.GetSampleSum() <= 0 {
		t.Errorf("%s duration histogram %v, want %v samples with a positive sum", cg.Path, h, total)
	}
}

// mustLookPath finds a program the test needs.
func mustLookPath(t testing.TB, name string) string {
	t.Helper()
	for _, dir := range []string{"/usr/bin", "/usr/local/bin"} {
		if _, err := os.Stat(dir + "/" + name); err == nil {
			return dir + "/" + name
		}
	}
	t.Skipf("%s not installed", name)
	return ""
}

// splitAt are where splitClient and splitServe cut each head into writes:
// inside the request line and the status line, and inside a field.
var (
	requestCuts  = []int{10, 24}
	responseCuts = []int{11, 30}
)

// splitRequest is the request splitClient sends, in three writes.
const splitRequest = "GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: orb8-test\r\n\r\n"

// splitResponse is the response splitServe sends, in three writes.
const splitResponse = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nok\n"

// writeCut writes s in pieces cut at cuts, each its own segment: Nagle is
// off and each write waits for the peer's ACK of the last one.
func writeCut(c *net.TCPConn, s string, cuts []int) error {
	prev := 0
	for _, cut := range append(cuts, len(s)) {
		if _, err := c.Write([]byte(s[prev:cut])); err != nil {
			return err
		}
		prev = cut
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// splitServe answers every request on a loopback port it prints with
// splitResponse, cut into writes.
func splitServe() error {
	return serveConns(func(c *net.TCPConn, _ *nethttp.Request) error { return writeCut(c, splitResponse, responseCuts) })
}

// serveConns reads the requests of every connection to a loopback port it
// prints, each one's body to its end, and answers each with answer, until
// the connection ends or answer fails.
func serveConns(answer func(c *net.TCPConn, req *nethttp.Request) error) error {
	l, err := listen()
	if err != nil {
		return err
	}
	for {
		c, err := l.AcceptTCP()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				req, err := nethttp.ReadRequest(r)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				if answer(c, req) != nil {
					return
				}
			}
		}()
	}
}

// splitClient sends n splitRequests over one connection to 127.0.0.1:port,
// each cut into writes, reads each response and prints "done".
func splitClient(args []string) error {
	if len(args) != 2 {
		return errors.New("want port, n")
	}
	n, _ := strconv.Atoi(args[1])
	addr, err := net.ResolveTCPAddr("tcp", "127.0.0.1:"+args[0])
	if err != nil {
		return err
	}
	c, err := net.DialTCP("tcp", nil, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for range n {
		if err := writeCut(c, splitRequest, requestCuts); err != nil {
			return err
		}
		if err := readResponse(r, nethttp.MethodGet, nethttp.StatusOK); err != nil {
			return err
		}
	}
	fmt.Println("done")
	return nil
}

// readResponse reads the response to a request of method, its body to the
// end, and fails unless its status is want.
func readResponse(r *bufio.Reader, method string, want int) error {
	resp, err := nethttp.ReadResponse(r, &nethttp.Request{Method: method})
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("status %d, want %d", resp.StatusCode, want)
	}
	return nil
}

// subscribeSides subscribes to the http events of the server's and the
// client's cgroup, by side.
func (f *fixture) subscribeSides(t *testing.T) map[string]*events.Subscription {
	sides := map[string]*events.Subscription{}
	for side, cg := range map[string]*testutil.Cgroup{"server": f.server, "client": f.client} {
		sub := f.bus.Subscribe(256, nil, func(e *events.Event) bool { return e.Kind == events.KindHTTP && e.Workload.Path == cg.Path })
		t.Cleanup(func() { f.bus.Unsubscribe(sub) })
		sides[side] = sub
	}
	return sides
}
