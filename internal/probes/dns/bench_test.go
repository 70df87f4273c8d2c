package dns

import (
	"bytes"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/testutil"
)

// floodWorkers is how many client sockets query at once.
const floodWorkers = 8

// BenchmarkDNSQueries sends b.N A queries over UDP from floodWorkers sockets
// of one client cgroup to the test responder, each waiting for its answer,
// without and with the probe, as fast as it goes and paced at the target
// rate. It reports the rate the client reached, the
// probe's BPF time per packet and, for port 53, how many queries and
// responses were not counted, ring buffer losses and the probe's own drops.
// "streamed": someone listens for every lookup, so every message also goes
// to user space; "sampled": only a sample subscriber listens, as the agent's
// API log does. Run with a fixed count, e.g. -benchtime=300000x.
func BenchmarkDNSQueries(b *testing.B) {
	const off, all, sample = 0, 1, 2 // who listens
	for _, c := range []struct {
		name   string
		probe  bool
		listen int
		port   string
		rate   int // queries/s, 0: as fast as the client goes
	}{
		{"probe=off", false, off, "53", 0},
		{"probe=on", true, off, "53", 0},
		{"probe=on/sampled", true, sample, "53", 0},
		{"probe=on/streamed", true, all, "53", 0},
		{"probe=on/streamed/rate=20000", true, all, "53", 20000},
		// The same traffic on another port: what every other packet pays.
		{"probe=on/port=" + otherPort, true, off, otherPort, 0},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := newScene(b, "127.0.0.1")
			if c.probe {
				stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
				if err != nil {
					b.Fatal(err)
				}
				defer stats.Close()
				f.startProbe(b, DefaultConfig())
				switch c.listen {
				case all:
					f.listen(b)
				case sample:
					sub := f.bus.SubscribeSample(256, []string{events.KindDNS})
					b.Cleanup(func() { f.bus.Unsubscribe(sub) })
				}
			}
			cmd := helper(b, f.client, f.ns, "flood", "ORB8_DNS_SERVER=127.0.0.1:"+c.port,
				"ORB8_DNS_COUNT="+strconv.Itoa(b.N), "ORB8_DNS_WORKERS="+strconv.Itoa(floodWorkers), "ORB8_DNS_RATE="+strconv.Itoa(c.rate))
			elapsed := floodTime(b, cmd)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "queries/s")
			if c.probe {
				reportCosts(b, f, c.port == "53")
			}
		})
	}
}

func floodTime(b *testing.B, cmd *exec.Cmd) time.Duration {
	b.Helper()
	b.ResetTimer()
	out, err := cmd.Output()
	b.StopTimer()
	if err != nil {
		b.Fatalf("flood: %v", err)
	}
	ns, err := strconv.ParseInt(string(bytes.TrimSpace(out)), 10, 64)
	if err != nil {
		b.Fatalf("flood output %q: %v", out, err)
	}
	return time.Duration(ns)
}

// reportCosts reports the probe's BPF time per packet and, for DNS traffic,
// waits for the probe to catch up and reports what it missed.
func reportCosts(b *testing.B, f *fixture, dns bool) {
	b.Helper()
	if dns {
		reportLoss(b, f)
	}
	if ns, ok := testutil.BPFNsPerRun(f.probe.Objects().Programs()); ok {
		b.ReportMetric(ns, "bpf-ns/packet")
	}
}

func reportLoss(b *testing.B, f *fixture) {
	b.Helper()
	in := map[string]string{"cgroup": f.client.Path, "qtype": "A"}
	counted := func(name string, labels map[string]string) float64 {
		v, _ := testutil.Sample(b, f.reg, name, labels)
		return v
	}
	resp := map[string]string{"cgroup": f.client.Path, "qtype": "A", "rcode": "NOERROR"}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && (counted("orb8_dns_queries_total", in) < float64(b.N) || counted("orb8_dns_responses_total", resp) < float64(b.N)) {
		time.Sleep(50 * time.Millisecond)
	}
	c, err := f.probe.Objects().Counters()
	if err != nil {
		b.Fatal(err)
	}
	_, dropped, err := f.probe.snapshot()
	if err != nil {
		b.Fatal(err)
	}
	var drops uint64
	for _, n := range dropped {
		drops += n
	}
	b.ReportMetric(float64(b.N)-counted("orb8_dns_queries_total", in), "uncounted-queries")
	b.ReportMetric(float64(b.N)-counted("orb8_dns_responses_total", resp), "uncounted-responses")
	b.ReportMetric(float64(c.RingbufLost), "ringbuf-lost")
	b.ReportMetric(float64(drops), "probe-drops")
}

// BenchmarkTrackerLookup measures the user-space side of one lookup: a
// query and its response parsed, matched and counted; "unheard" is the
// agent's common case, nobody streaming DNS events.
func BenchmarkTrackerLookup(b *testing.B) {
	for _, unheard := range []bool{true, false} {
		b.Run(map[bool]string{true: "unheard", false: "streamed"}[unheard], func(b *testing.B) {
			tr := newTracker(DefaultConfig())
			q := &packet{cgroup: 1, egress: true, src: client, dst: server, unheard: unheard,
				data: build(b, 0, false, 0, "bench.example.", dnsmessage.TypeA)}
			r := &packet{cgroup: 1, src: server, dst: client, unheard: unheard,
				data: build(b, 0, true, 0, "bench.example.", dnsmessage.TypeA, aRecord("bench.example.", [4]byte{192, 0, 2, 1}))}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				q.data[0], q.data[1] = byte(i>>8), byte(i)
				r.data[0], r.data[1] = byte(i>>8), byte(i)
				q.bootNs, r.bootNs = uint64(i)*1000, uint64(i)*1000+500
				tr.packet(q)
				tr.packet(r)
			}
		})
	}
}
