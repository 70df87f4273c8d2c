package security

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/testutil"
)

// Abuse is 200 clients at once against the agent's API while a workload
// execs and connects: the agent loses no kernel event, counts the workload
// exactly, stays under 100 MB, evicts the streams that stopped reading, and
// serves a fresh client once they leave (TestAbusiveClients). How fast it
// answers scrapes meanwhile is a timing, measured by BenchmarkAbusiveClients
// on a quiet machine and recorded in docs/benchmarks.md.
const (
	stalledStreams = 80 // more than the 64 stream slots, never reading
	churners       = 60 // connect, ask, hang up, again
	hugeFilters    = 40 // the longest filters allowed, and longer ones
	bigRequests    = 20 // requests past the size limit
	abuseFor       = 20 * time.Second
	execs, conns   = 300, 300
)

func TestAbusiveClients(t *testing.T) {
	if testing.Short() {
		t.Skip("a 40 s load test")
	}
	r := abuse(t)
	t.Logf("RSS %.1f MB before the abuse, peak %.1f MB; scrapes under abuse: %d, median %v, p90 %v, max %v; streams evicted %v; calls refused %d",
		r.idleMB, r.peakMB, len(r.scrapes), r.scrape(0.5), r.scrape(0.9), r.scrape(1), r.evicted, r.refused)
	if r.peakMB > 100 {
		t.Errorf("peak RSS %.1f MB, want under 100 MB", r.peakMB)
	}
	if r.evicted == 0 {
		t.Error("no stalled stream was evicted")
	}
}

// BenchmarkAbusiveClients runs the abuse once per iteration and reports how
// the agent answered scrapes meanwhile.
//
//	go test -run '^$' -bench AbusiveClients -benchtime 3x ./test/security/
func BenchmarkAbusiveClients(b *testing.B) {
	var p50, p90, max, peak []float64
	for b.Loop() {
		r := abuse(b)
		p50, p90, max = append(p50, ms(r.scrape(0.5))), append(p90, ms(r.scrape(0.9))), append(max, ms(r.scrape(1)))
		peak = append(peak, r.peakMB)
	}
	b.ReportMetric(testutil.Median(p50), "scrape-p50-ms")
	b.ReportMetric(testutil.Median(p90), "scrape-p90-ms")
	b.ReportMetric(testutil.Median(max), "scrape-max-ms")
	b.ReportMetric(testutil.Median(peak), "peak-rss-MB")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// abuseResult is what one abuse run measured.
type abuseResult struct {
	idleMB, peakMB float64
	scrapes        []time.Duration // sorted
	evicted        float64
	refused        int64
}

// scrape is the q-quantile of the scrape times (1: the slowest).
func (r abuseResult) scrape(q float64) time.Duration {
	if len(r.scrapes) == 0 {
		return 0
	}
	return r.scrapes[min(int(q*float64(len(r.scrapes))), len(r.scrapes)-1)]
}

// abuse runs the scenario and checks what must hold whatever the timing:
// exact counts, no lost kernel event, recovery.
func abuse(t testing.TB) abuseResult {
	testutil.RequireRoot(t)
	bin := testutil.Binary(t)
	sock := testutil.Socket(t)
	metrics := freeAddr(t)
	// The abusers are clients elsewhere: here they share the machine, so the
	// agent gets CPU 1 and they, with the workload, CPU 0.
	agent := exec.Command("taskset", "-c", "1", bin, "agent", "--metrics-addr", metrics, "--api-addr", sock, "--probes", "process,network")
	var logs strings.Builder
	agent.Stdout, agent.Stderr = &logs, &logs
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	var self unix.CPUSet
	self.Set(0)
	var all unix.CPUSet
	unix.SchedGetaffinity(0, &all)
	if err := unix.SchedSetaffinity(0, &self); err != nil { // every thread of the test process
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.SchedSetaffinity(0, &all) })
	t.Cleanup(func() { agent.Process.Signal(syscall.SIGTERM); agent.Wait() })
	waitReady(t, metrics, &logs)

	idleRSS := rssKB(agent.Process.Pid)
	// Peak memory and scrape times, sampled all along.
	ctx, stop := context.WithCancel(context.Background())
	var peakRSS atomic.Int64
	var scrapes []time.Duration
	var sampling sync.WaitGroup
	sampling.Add(2)
	go func() {
		defer sampling.Done()
		for ctx.Err() == nil {
			if kb := rssKB(agent.Process.Pid); kb > peakRSS.Load() {
				peakRSS.Store(kb)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	go func() {
		defer sampling.Done()
		for ctx.Err() == nil {
			start := time.Now()
			if _, err := scrape(metrics); err == nil {
				scrapes = append(scrapes, time.Since(start))
			}
			time.Sleep(250 * time.Millisecond)
		}
	}()

	abuseCtx, stopAbuse := context.WithTimeout(context.Background(), abuseFor)
	defer stopAbuse()
	var abusers sync.WaitGroup
	var refused atomic.Int64 // calls the agent turned away, as it should
	run := func(n int, fn func()) {
		for range n {
			abusers.Add(1)
			go func() {
				defer abusers.Done()
				for abuseCtx.Err() == nil {
					fn()
				}
			}()
		}
	}
	dial := func() *apiclient.Agent {
		c, err := apiclient.Dial(abuseCtx, sock, apiclient.TLS{}, 5*time.Second)
		if err != nil {
			return nil
		}
		return c
	}
	// Streams whose client stops reading its socket once subscribed (a
	// client gone silent, or one that means harm): the agent's sends wait on
	// the HTTP/2 window it never reopens.
	raw := func() *grpc.ClientConn {
		conn, err := grpc.NewClient(sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil
		}
		return conn
	}
	run(stalledStreams, func() {
		c, err := stalledWatch(strings.TrimPrefix(sock, "unix://"))
		if err != nil {
			refused.Add(1)
			time.Sleep(100 * time.Millisecond)
			return
		}
		<-abuseCtx.Done()
		c.Close()
	})
	run(churners, func() {
		if c := dial(); c != nil {
			c.Statuses(abuseCtx)
			c.Close()
		}
	})
	// The longest selector allowed (1 KiB), valid, so it is evaluated.
	values := make([]string, 0, 200)
	for i := 0; len(strings.Join(values, ","))+16 < 1024; i++ {
		values = append(values, "v"+strconv.Itoa(i))
	}
	longSelector := "app in (" + strings.Join(values, ",") + ")"
	run(hugeFilters, func() {
		if c := dial(); c != nil {
			for _, f := range []*pb.WorkloadFilter{
				{Selector: longSelector}, {Selector: strings.Repeat("x", 1<<16)},
				{Pod: "*"}, {Cgroup: "/" + strings.Repeat("a", 5000)},
			} {
				if _, err := c.Workloads(abuseCtx, &pb.ListWorkloadsRequest{Filter: f}); err != nil {
					refused.Add(1)
				}
			}
			if _, err := c.DNS(abuseCtx, &pb.ListDNSRequest{Name: strings.Repeat("q", 1000)}); err != nil {
				refused.Add(1)
			}
			c.Close()
		}
	})
	run(bigRequests, func() {
		conn := raw()
		if conn == nil {
			return
		}
		big := &pb.ListWorkloadsRequest{Filter: &pb.WorkloadFilter{Namespace: strings.Repeat("n", 1<<20)}}
		if _, err := pb.NewAgentClient(conn).ListWorkloads(abuseCtx, big); err != nil {
			refused.Add(1)
		}
		conn.Close()
	})

	// Events all along, so the streams that stopped reading have sends
	// waiting on them until they are evicted.
	background := testutil.NewCgroup(t)
	loop := background.Command(t, "/bin/bash", "-c", "while true; do /bin/true; done")
	if err := loop.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { loop.Process.Kill(); loop.Wait() })

	// The workload, meanwhile.
	cg := testutil.NewCgroup(t)
	ln := testutil.AcceptAll(t)
	script := fmt.Sprintf(`for i in $(seq %d); do /bin/true; done; for i in $(seq %d); do exec 3<>/dev/tcp/127.0.0.1/%d; exec 3>&-; done`,
		execs, conns, ln.Port)
	if out, err := cg.Command(t, "/bin/bash", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("workload: %v: %s", err, out)
	}
	<-abuseCtx.Done()
	abusers.Wait()
	stop()
	sampling.Wait()

	// Recovery: the slots free, a fresh client is served, scrapes are fast.
	testutil.Eventually(t, 20*time.Second, func() bool {
		c, err := apiclient.Dial(context.Background(), sock, apiclient.TLS{}, 2*time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		st, err := c.Statuses(context.Background())
		return err == nil && st[0].GetApiStreams() == 0
	}, "the agent never got its stream slots back; log:\n%s", &logs)
	body, err := scrape(metrics)
	if err != nil {
		t.Fatal(err)
	}
	families := parse(t, body)
	// bash execs itself once, then /bin/true and seq: execs + 2 (seq twice).
	wantExecs := float64(1 + execs + 2)
	if got := families.value("orb8_process_exec_total", "cgroup", cg.Path); got != wantExecs {
		t.Errorf("the workload's execs: %v, want %v", got, wantExecs)
	}
	if got := families.value("orb8_tcp_connections_total", "cgroup", cg.Path, "direction", "outbound", "result", "ok"); got != conns {
		t.Errorf("the workload's connections: %v, want %d", got, conns)
	}
	for _, probe := range []string{"process", "network"} {
		if lost := families.value("orb8_events_lost_total", "probe", probe); lost != 0 {
			t.Errorf("probe %s lost %v kernel events", probe, lost)
		}
	}
	slices.Sort(scrapes)
	return abuseResult{
		idleMB: float64(idleRSS) / 1024, peakMB: float64(peakRSS.Load()) / 1024, scrapes: scrapes,
		evicted: families.value("orb8_api_streams_evicted_total"), refused: refused.Load(),
	}
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(t testing.TB, addr string, logs fmt.Stringer) {
	t.Helper()
	testutil.Eventually(t, 2*time.Minute, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "agent never ready; log:\n%s", logs)
}

func scrape(addr string) ([]byte, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func rssKB(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// families are a scrape's metric families by name.
type families map[string]*dto.MetricFamily

func parse(t testing.TB, raw []byte) families {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value sums the series of name whose labels have the given name, value pairs.
func (f families) value(name string, labels ...string) float64 {
	var sum float64
next:
	for _, m := range f[name].GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == labels[i] && l.GetValue() == labels[i+1] }) {
				continue next
			}
		}
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return sum
}

// stalledWatch opens a WatchEvents stream by hand (HTTP/2 frames over the
// unix socket at path) and then never reads: no window update ever reaches
// the agent, so once its sends fill the 64 KiB window they wait.
func stalledWatch(path string) (net.Conn, error) {
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return nil, err
	}
	req, err := proto.Marshal(&pb.WatchEventsRequest{Kinds: []string{"exec", "exit", "tcp"}})
	if err != nil {
		return nil, err
	}
	var headers bytes.Buffer
	enc := hpack.NewEncoder(&headers)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/orb8.v1.Agent/WatchEvents"},
		{":authority", "localhost"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	msg := append([]byte{0, 0, 0, 0, 0}, req...)
	binary.BigEndian.PutUint32(msg[1:5], uint32(len(req)))
	fr := http2.NewFramer(conn, conn)
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		return nil, err
	}
	for _, write := range []func() error{
		func() error { return fr.WriteSettings() },
		func() error { return fr.WriteSettingsAck() },
		func() error {
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: headers.Bytes(), EndHeaders: true})
		},
		func() error { return fr.WriteData(1, true, msg) }, // the request ends the client's half
	} {
		if err := write(); err != nil {
			conn.Close()
			return nil, err
		}
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}
