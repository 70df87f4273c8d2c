package http

import (
	"bytes"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/orb8/orb8/internal/probes/http/internal/keepalive"
	"github.com/orb8/orb8/internal/testutil"
)

// loadWorkers is how many keep-alive connections the load generator uses.
const loadWorkers = 4

// BenchmarkKeepAlive sends b.N GET requests from loadWorkers keep-alive
// connections of a client cgroup to the net/http test server, each waiting
// for its response, without and with the probe, and, with it, the same
// number of 64-byte ping-pongs over TCP that is not HTTP: what every other
// packet pays, and unary gRPC health checks over h2c (grpc), which the
// kernel follows frame by frame. It reports the rate the client reached and the probe's BPF
// time per packet (both programs, every packet of the node while it ran).
// Run with a fixed count, e.g. -benchtime=100000x.
func BenchmarkKeepAlive(b *testing.B) {
	for _, c := range []struct {
		name  string
		probe bool
		mode  string
	}{
		{"probe=off", false, "http"},
		{"probe=on", true, "http"},
		{"probe=off/not-http", false, "echo"},
		{"probe=on/not-http", true, "echo"},
		{"probe=off/grpc", false, "grpc"},
		{"probe=on/grpc", true, "grpc"},
	} {
		b.Run(c.name, func(b *testing.B) {
			testutil.RequireRoot(b)
			server, client := testutil.NewCgroup(b), testutil.NewCgroup(b)
			mode := map[string]string{"http": "serve", "echo": "echo", "grpc": "grpc-serve"}[c.mode]
			srv := testutil.StartPiped(b, server.Helper(b, mode))
			line, err := srv.Stdout.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			f := startMeasured(b, c.probe)
			cmd := client.Helper(b, "load", c.mode, string(bytes.TrimSpace([]byte(line))), strconv.Itoa(b.N))
			b.ResetTimer()
			out, err := cmd.Output()
			b.StopTimer()
			if err != nil {
				b.Fatalf("load: %v", err)
			}
			ns, _ := strconv.ParseInt(string(bytes.TrimSpace(out)), 10, 64)
			b.ReportMetric(float64(b.N)/time.Duration(ns).Seconds(), "requests/s")
			f.reportBPF(b, "bpf-ns/packet", httpProgHttpEgress, httpProgHttpIngress)
		})
	}
}

// load runs n requests (mode http) or 64-byte ping-pongs (mode echo) over
// loadWorkers connections to 127.0.0.1:port, or n gRPC health checks from
// loadWorkers goroutines over one h2c connection (mode grpc), and prints
// the nanoseconds.
func load(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("want mode, port, n")
	}
	n, _ := strconv.Atoi(args[2])
	addr := "127.0.0.1:" + args[1]
	tr := &nethttp.Transport{MaxIdleConnsPerHost: loadWorkers}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	var wg sync.WaitGroup
	errs := make(chan error, loadWorkers)
	begin := time.Now()
	for w := range loadWorkers {
		count := n / loadWorkers
		if w < n%loadWorkers {
			count++
		}
		wg.Go(func() {
			switch args[0] {
			case "echo":
				errs <- pingPong(addr, count)
			case "grpc":
				errs <- keepalive.RunGRPC(conn, count, 0, 0)
			default:
				errs <- get(tr, "http://"+addr+"/ok", count)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	fmt.Println(elapsed.Nanoseconds())
	return nil
}

func get(tr *nethttp.Transport, url string, n int) error {
	c := &nethttp.Client{Transport: tr}
	for range n {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return nil
}

func pingPong(addr string, n int) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	buf := make([]byte, 64)
	for range n {
		if _, err := conn.Write(buf); err != nil {
			return err
		}
		if _, err := io.ReadFull(conn, buf); err != nil {
			return err
		}
	}
	return nil
}

// echo serves 64-byte ping-pongs on a loopback port it prints.
func echo() error {
	l, err := listen()
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go io.Copy(c, c)
	}
}

// BenchmarkTLSCalls runs SSL_write and SSL_read in memory (tls_calls.py:
// libssl, no socket) in a test cgroup, b.N times each per round, without
// and with the probe, with a payload that starts a head (captured) and one
// that does not (offsets kept only). It reports the wall time per call
// (best of 5 rounds: the uprobe traps and BPF included) and the TLS
// programs' BPF time per run (two runs per call: entry and return).
func BenchmarkTLSCalls(b *testing.B) {
	benchCalls(b, func(b *testing.B, cg *testutil.Cgroup, args ...string) *exec.Cmd {
		return cg.Command(b, mustLookPath(b, "python3"), append([]string{"testdata/tls_calls.py"}, args...)...)
	}, (*fixture).waitHooked, httpProgTlsEnter, httpProgTlsReturn)
}

// BenchmarkGoTLSCalls is BenchmarkTLSCalls for Go's crypto/tls
// (testdata/gotls calls: (*Conn).Write and Read over net.Pipe): the BPF
// time is per run of the three Go programs (three runs per iteration:
// Write's entry, Read's entry and one of its RETs).
func BenchmarkGoTLSCalls(b *testing.B) {
	bin := buildGoTLS(b)
	benchCalls(b, func(b *testing.B, cg *testutil.Cgroup, args ...string) *exec.Cmd {
		return cg.Command(b, bin, append([]string{"calls"}, args...)...)
	}, func(f *fixture, tb testing.TB, pid int) { f.waitGoHooked(tb, pid, bin) },
		httpProgGoTlsWrite, httpProgGoTlsReadEnter, httpProgGoTlsReadReturn)
}

// benchCalls runs the TLS call loop that command starts (with arguments
// n, payload, certificate and key files; it prints "ready", waits for a
// line, prints ns per iteration), with the probe off and on (once hooked
// says the process is hooked) and both payloads, reporting the named
// programs' BPF time per run.
func benchCalls(b *testing.B, command func(b *testing.B, cg *testutil.Cgroup, args ...string) *exec.Cmd,
	hooked func(f *fixture, tb testing.TB, pid int), progs ...string) {
	for _, c := range []struct {
		name    string
		probe   bool
		payload string
	}{
		{"probe=off/head", false, "head"},
		{"probe=on/head", true, "head"},
		{"probe=off/not-head", false, "body"},
		{"probe=on/not-head", true, "body"},
	} {
		b.Run(c.name, func(b *testing.B) {
			testutil.RequireRoot(b)
			cg := testutil.NewCgroup(b)
			cert, key := selfSigned(b)
			f := startMeasured(b, c.probe)
			calls := testutil.StartPiped(b, command(b, cg, strconv.Itoa(b.N), c.payload, cert, key))
			calls.Expect(b, "ready")
			if f != nil {
				hooked(f, b, calls.Cmd.Process.Pid)
			}
			b.ResetTimer()
			io.WriteString(calls.Stdin, "go\n")
			out, err := calls.Stdout.ReadString('\n')
			b.StopTimer()
			if err != nil {
				b.Fatalf("TLS calls: %v", err)
			}
			ns, _ := strconv.ParseFloat(strings.TrimSpace(out), 64)
			b.ReportMetric(ns, "wall-ns/call")
			f.reportBPF(b, "bpf-ns/run", progs...)
		})
	}
}

// startMeasured loads the probe with the kernel's BPF statistics on, if
// on; else it returns nil.
func startMeasured(b *testing.B, on bool) *fixture {
	if !on {
		return nil
	}
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stats.Close() })
	return startBench(b)
}

// reportBPF reports the run time per run of the named programs, unless f is
// nil (the probe off).
func (f *fixture) reportBPF(b *testing.B, unit string, names ...string) {
	if f == nil {
		return
	}
	progs := f.probe.Objects().Programs()
	some := map[string]*ebpf.Program{}
	for _, name := range names {
		some[name] = progs[name]
	}
	if ns, ok := testutil.BPFNsPerRun(some); ok {
		b.ReportMetric(ns, unit)
	}
}

// BenchmarkTrackerRequest measures the user-space side of one request: its
// head and its response's parsed, matched and counted; heard also builds
// its event and places it in a trace (as with --otlp-traces-endpoint).
func BenchmarkTrackerRequest(b *testing.B) {
	for _, heard := range []bool{false, true} {
		b.Run(fmt.Sprintf("heard=%v", heard), func(b *testing.B) {
			tr := newTracker(DefaultConfig())
			req := &packet{cgroup: 1, cookie: 1, heard: heard, data: []byte("GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n")}
			resp := &packet{cgroup: 1, cookie: 1, egress: true, heard: heard,
				data: []byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Sat, 05 Dec 2026 09:00:00 GMT\r\n\r\nok\n")}
			req.length, resp.length = len(req.data), len(resp.data)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				req.bootNs, resp.bootNs = uint64(i)*1000, uint64(i)*1000+500
				req.seq += uint32(req.length)
				resp.seq += uint32(resp.length)
				tr.packet(req)
				tr.packet(resp)
			}
		})
	}
}
