package agent

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.Helpers(m, map[string]func([]string) error{"dns-storm": dnsStorm, "span-serve": spanServe, "span-client": spanClient})
}

// dnsQuery is an A query for a.example with id.
func dnsQuery(id uint16) []byte {
	q := binary.BigEndian.AppendUint16(nil, id)
	q = append(q, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0) // RD, one question
	q = append(q, "\x01a\x07example\x00"...)
	return append(q, 0, 1, 0, 1) // A, IN
}

// dnsStorm (helper: SERVER DURATION WORKERS) sends queries to SERVER, each
// from a new socket (a new port), for DURATION, and prints how many were
// answered.
func dnsStorm(args []string) error {
	d, err := time.ParseDuration(args[1])
	if err != nil {
		return err
	}
	workers, err := strconv.Atoi(args[2])
	if err != nil {
		return err
	}
	var answered atomic.Uint64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for w := range workers {
		wg.Go(func() {
			buf := make([]byte, 512)
			for i := 0; time.Now().Before(end); i++ {
				c, err := net.Dial("udp", args[0])
				if err != nil {
					continue
				}
				_ = c.SetDeadline(time.Now().Add(time.Second))
				if _, err := c.Write(dnsQuery(uint16(w<<12 + i))); err == nil {
					if _, err := c.Read(buf); err == nil {
						answered.Add(1)
					}
				}
				c.Close()
			}
		})
	}
	wg.Wait()
	_, err = fmt.Println(answered.Load())
	return err
}

// serveDNS answers every query on c with an empty NOERROR response.
func serveDNS(c net.PacketConn) {
	buf := make([]byte, 512)
	for {
		n, addr, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		resp := bytes.Clone(buf[:n])
		resp[2] |= 0x80 // QR
		_, _ = c.WriteTo(resp, addr)
	}
}

// TestOverheadBudgetShedsDNSRecords: a DNS storm, every lookup of which a
// client streams (orb8 trace dns), drives the agent (its own process) past
// --max-overhead; it samples the DNS messages it handles until its cost is
// back under the budget while the storm goes on, handles every message again
// once the storm is over, and counts every query meanwhile (the kernel
// counts them).
func TestOverheadBudgetShedsDNSRecords(t *testing.T) {
	testutil.RequireRoot(t)
	// 4% of a CPU: streaming to the client costs ~2.4% of one in the storm
	// (docs/benchmarks.md), which no sampling of DNS messages sheds.
	budget := 0.04 / float64(runtime.NumCPU())
	server, err := net.ListenPacket("udp", "127.0.0.9:53")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	go serveDNS(server)
	// The agent watches the test's own cgroup tree only: the rest of the
	// node (other tests' DNS traffic) would be its work too.
	root := testutil.NewCgroup(t)
	cg := root.Child(t, "storm")
	url, api := testutil.RunAgent(t, "--probes", "dns", "--cgroup-root", root.Dir, "--max-overhead", strconv.FormatFloat(budget, 'f', -1, 64))
	trace := exec.Command(testutil.Binary(t), "trace", "dns", "--agent", api, "-o", "json")
	if err := trace.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trace.Process.Kill(); trace.Wait() })
	testutil.Eventually(t, 20*time.Second, func() bool { return apiStreams(t, api) == 1 }, "orb8 trace dns never subscribed")
	value := func(name string, labels map[string]string) float64 {
		v, _ := testutil.Sample(t, scrape(t, url), name, labels)
		return v
	}
	dnsSampling := map[string]string{"probe": "dns"}
	if r := value("orb8_sampling_ratio", dnsSampling); r != 1 {
		t.Fatalf("orb8_sampling_ratio{probe=dns} = %g before any load, want 1", r)
	}

	storm := cg.Helper(t, "dns-storm", "127.0.0.9:53", "25s", "4")
	var out bytes.Buffer
	storm.Stdout = &out
	if err := storm.Start(); err != nil {
		t.Fatal(err)
	}
	// Scrapes are the agent's work too: one a second.
	started := time.Now()
	var ratios, costs []float64
	for under := false; !under; {
		if time.Since(started) > 24*time.Second {
			t.Fatalf("the storm ended before the agent's cost came under its budget of %g: sampling %v, cost %v", budget, ratios, costs)
		}
		time.Sleep(time.Second)
		g := scrape(t, url)
		r, _ := testutil.Sample(t, g, "orb8_sampling_ratio", dnsSampling)
		c, _ := testutil.Sample(t, g, "orb8_overhead_ratio", nil)
		ratios, costs = append(ratios, r), append(costs, c)
		under = r < 1 && c <= budget
	}
	t.Logf("per second into the storm: sampling %v, cost %v", ratios, costs)

	if err := storm.Wait(); err != nil {
		t.Fatal(err)
	}
	sent, err := strconv.ParseFloat(strings.TrimSpace(out.String()), 64)
	if err != nil || sent == 0 {
		t.Fatalf("storm answered %q queries: %v", out.String(), err)
	}
	var after []float64
	for r := 0.0; r != 1; after = append(after, r) {
		if len(after) == 40 {
			t.Fatalf("sampling did not end within 40 s of the storm: %v", after)
		}
		time.Sleep(time.Second)
		r = value("orb8_sampling_ratio", dnsSampling)
	}
	t.Logf("per second after the storm: sampling %v", after)
	counted := value("orb8_dns_queries_total", map[string]string{"cgroup": "/storm", "qtype": "A"})
	// Queries the responder got no chance to answer (the storm's last) are counted, not answered.
	if counted < sent || counted > sent+100 {
		t.Errorf("queries counted %g for %g answered ones, want them all", counted, sent)
	}
	t.Logf("storm: %g queries answered, %g counted", sent, counted)
}

func TestNextRate(t *testing.T) {
	for _, tc := range []struct {
		rate          uint32
		ratio, budget float64
		want          uint32
	}{
		{1, 0.02, 0.01, 2},
		{1, 0.011, 0.01, 2},
		{1, 0.065, 0.01, 8},  // 6.5 times over: 8 times coarser at once
		{4, 0.17, 0.01, 128}, // 17 times over: 32 times coarser
		{512, 0.02, 0.01, 1024},
		{256, 0.5, 0.01, 1024},
		{1024, 0.02, 0.01, 1024},
		{1, 0.001, 0.01, 1},
		{64, 0.006, 0.01, 64},     // twice the cost would not fit
		{64, 0.004, 0.01, 32},     // twice fits, four times not
		{64, 0.0001, 0.01, 1},     // idle: all at once
		{1024, 0.0012, 0.01, 128}, // 0.0024, 0.0048, 0.0096 fit; 0.0192 would not
	} {
		if got := nextRate(tc.rate, tc.ratio, tc.budget); got != tc.want {
			t.Errorf("nextRate(%d, %g, %g) = %d, want %d", tc.rate, tc.ratio, tc.budget, got, tc.want)
		}
	}
}
