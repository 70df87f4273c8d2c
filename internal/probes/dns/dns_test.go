package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

type fixture struct {
	probe *Probe
	reg   *prometheus.Registry
	bus   *events.Bus
	// lookupsSub receives the client's dns events from the bus.
	lookupsSub *events.Subscription
	ns         *os.File
	// server and client are the responder's and the client's cgroups.
	server, client *testutil.Cgroup
}

// start loads the probe and prepares a network namespace with a responder
// on addr port 53 in a cgroup of its own, and a client cgroup.
func start(t testing.TB, cfg Config, addr string) *fixture {
	t.Helper()
	f := newScene(t, addr)
	f.startProbe(t, cfg)
	f.listen(t)
	return f
}

// listen subscribes lookupsSub to every lookup of the client's cgroup.
func (f *fixture) listen(t testing.TB) {
	f.lookupsSub = f.bus.Subscribe(256, nil, func(e *events.Event) bool {
		return e.Kind == events.KindDNS && e.Workload.Path == f.client.Path
	})
	t.Cleanup(func() { f.bus.Unsubscribe(f.lookupsSub) })
}

// newScene prepares the namespace, the responder and the client's cgroup.
func newScene(t testing.TB, addr string) *fixture {
	t.Helper()
	testutil.RequireRoot(t)
	f := &fixture{ns: newNetns(t), server: testutil.NewCgroup(t), client: testutil.NewCgroup(t)}
	startResponder(t, f.server, f.ns, addr)
	return f
}

func (f *fixture) startProbe(t testing.TB, cfg Config) {
	t.Helper()
	f.startProbeAt(t, cfg, testutil.Resolver(t).Root())
}

// startProbeAt attaches the probe's programs to the cgroup at dir: the
// sockets below it only.
func (f *fixture) startProbeAt(t testing.TB, cfg Config, dir string) {
	t.Helper()
	res := testutil.Resolver(t)
	f.probe, f.reg, f.bus = NewWithConfig(cfg), prometheus.NewPedanticRegistry(), events.NewBus()
	env := probe.Env{Resolver: res, Events: f.bus, Log: slog.Default(), CgroupRoot: dir}
	if err := f.probe.Start(context.Background(), env); err != nil {
		t.Fatalf("start dns probe: %v", err)
	}
	t.Cleanup(func() { f.probe.Close() })
	f.reg.MustRegister(testutil.Collector(t, f.probe))
}

// waitFor polls until metric name{labels} of the client's cgroup equals want.
func (f *fixture) waitFor(t testing.TB, name string, labels map[string]string, want float64) {
	t.Helper()
	in := map[string]string{"cgroup": f.client.Path}
	for k, v := range labels {
		in[k] = v
	}
	value := func() float64 { v, _ := testutil.Sample(t, f.reg, name, in); return v }
	testutil.Eventually(t, 3*time.Second, func() bool { return value() == want },
		"%s%v = %v, want %v; series: %s", name, in, value(), want, testutil.Series(t, f.reg, name))
}

// serverCounted fails the test if the responder's side was counted: the
// probe counts a workload's own lookups only.
func (f *fixture) serverCounted(t *testing.T) {
	t.Helper()
	for _, name := range []string{"orb8_dns_queries_total", "orb8_dns_responses_total"} {
		if _, ok := testutil.Sample(t, f.reg, name, map[string]string{"cgroup": f.server.Path}); ok {
			t.Errorf("%s counted for the responder's cgroup: %s", name, testutil.Series(t, f.reg, name))
		}
	}
}

// lookups receives the client's finished lookups from the bus, in the order
// they finished, and fails unless exactly want arrive.
func (f *fixture) lookups(t *testing.T, want int) []events.Event {
	t.Helper()
	var got []events.Event
	for len(got) < want {
		select {
		case e := <-f.lookupsSub.C:
			got = append(got, e)
		case <-time.After(3 * time.Second):
			t.Fatalf("%d dns events streamed, want %d", len(got), want)
		}
	}
	select {
	case e := <-f.lookupsSub.C:
		t.Fatalf("dns event beyond the %d expected: %+v", want, e.DNS)
	case <-time.After(100 * time.Millisecond):
	}
	if n := f.lookupsSub.Dropped(); n != 0 {
		t.Fatalf("%d dns events lost to the test's full buffer", n)
	}
	return got
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d.orb8.test.", prefix, i)
	}
	return out
}

func TestUDPQueriesAnsweredNXDOMAIN(t *testing.T) {
	f := start(t, DefaultConfig(), "127.0.0.1")
	runQueries(t, f.client, f.ns, "udp", "127.0.0.1:53", "A", names(nxPrefix, 5))

	f.waitFor(t, "orb8_dns_queries_total", map[string]string{"qtype": "A"}, 5)
	f.waitFor(t, "orb8_dns_responses_total", map[string]string{"qtype": "A", "rcode": "NXDOMAIN"}, 5)
	f.waitFor(t, "orb8_dns_latency_seconds", nil, 5)
	f.waitFor(t, "orb8_dns_unmatched_responses_total", nil, 0)
	f.serverCounted(t)

	for i, e := range f.lookups(t, 5) {
		d := e.DNS
		if d.QName != names(nxPrefix, 5)[i] || d.QType != "A" || d.RCode != "NXDOMAIN" || !d.Answered || d.Answers != 0 ||
			d.Protocol != "udp" || d.Server != netip.MustParseAddrPort("127.0.0.1:53") || d.Latency <= 0 || d.Latency > time.Second {
			t.Errorf("lookup %d = %+v", i, d)
		}
	}
}

func TestTCPQueries(t *testing.T) {
	f := start(t, DefaultConfig(), "127.0.0.1")
	// Three one after the other on one connection, then three in one segment.
	runQueries(t, f.client, f.ns, "tcp", "127.0.0.1:53", "A", names(nxPrefix, 3))
	runQueries(t, f.client, f.ns, "tcp-pipelined", "127.0.0.1:53", "A", names("ok-", 3))

	f.waitFor(t, "orb8_dns_queries_total", map[string]string{"qtype": "A"}, 6)
	f.waitFor(t, "orb8_dns_responses_total", map[string]string{"qtype": "A", "rcode": "NXDOMAIN"}, 3)
	f.waitFor(t, "orb8_dns_responses_total", map[string]string{"qtype": "A", "rcode": "NOERROR"}, 3)
	f.waitFor(t, "orb8_dns_latency_seconds", nil, 6)
	f.serverCounted(t)
	for _, e := range f.lookups(t, 6) {
		if e.DNS.Protocol != "tcp" {
			t.Errorf("lookup over %s, want tcp: %+v", e.DNS.Protocol, e.DNS)
		}
		if e.DNS.RCode == "NOERROR" && (len(e.DNS.Addrs) != 1 || e.DNS.Addrs[0] != netip.MustParseAddr("192.0.2.1")) {
			t.Errorf("answer addresses %v, want 192.0.2.1", e.DNS.Addrs)
		}
	}
}

func TestIPv6Queries(t *testing.T) {
	f := start(t, DefaultConfig(), "::1")
	runQueries(t, f.client, f.ns, "udp", "[::1]:53", "AAAA", names("v6-", 4))
	runQueries(t, f.client, f.ns, "tcp", "[::1]:53", "AAAA", names(nxPrefix, 2))

	f.waitFor(t, "orb8_dns_queries_total", map[string]string{"qtype": "AAAA"}, 6)
	f.waitFor(t, "orb8_dns_responses_total", map[string]string{"qtype": "AAAA", "rcode": "NOERROR"}, 4)
	f.waitFor(t, "orb8_dns_responses_total", map[string]string{"qtype": "AAAA", "rcode": "NXDOMAIN"}, 2)
	f.waitFor(t, "orb8_dns_latency_seconds", nil, 6)
	want := netip.MustParseAddr("2001:db8::1")
	for _, e := range f.lookups(t, 6) {
		if e.DNS.Server.Addr() != netip.IPv6Loopback() || e.DNS.RCode == "NOERROR" && (len(e.DNS.Addrs) != 1 || e.DNS.Addrs[0] != want) {
			t.Errorf("lookup = %+v, want server ::1 and answer %s", e.DNS, want)
		}
	}
}

func TestUnansweredQueriesExpire(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Timeout = 200 * time.Millisecond
	f := start(t, cfg, "127.0.0.1")
	runQueries(t, f.client, f.ns, "udp", "127.0.0.1:53", "A", append(names(dropPrefix, 2), names("ok-", 1)...))

	f.waitFor(t, "orb8_dns_queries_total", map[string]string{"qtype": "A"}, 3)
	f.waitFor(t, "orb8_dns_unanswered_total", map[string]string{"qtype": "A"}, 2)
	f.waitFor(t, "orb8_dns_responses_total", map[string]string{"qtype": "A", "rcode": "NOERROR"}, 1)
	f.waitFor(t, "orb8_dns_latency_seconds", nil, 1)
	var unanswered int
	for _, e := range f.lookups(t, 3) {
		if !e.DNS.Answered {
			unanswered++
		}
	}
	if unanswered != 2 {
		t.Fatalf("%d unanswered lookups streamed, want 2", unanswered)
	}
}

// Messages longer than the small record (DNS_CAPTURE_SMALL) travel in large
// ones; names near the 255-byte limit come through whole.
func TestLongNames(t *testing.T) {
	f := start(t, DefaultConfig(), "127.0.0.1")
	label := strings.Repeat("l", 60)
	long := func(i int) string { return fmt.Sprintf("%s%d.%s.%s.%s.orb8.test.", nxPrefix, i, label, label, label) }
	runQueries(t, f.client, f.ns, "udp", "127.0.0.1:53", "A", []string{long(0), long(1)})
	runQueries(t, f.client, f.ns, "tcp", "127.0.0.1:53", "A", []string{long(2)})

	f.waitFor(t, "orb8_dns_responses_total", map[string]string{"qtype": "A", "rcode": "NXDOMAIN"}, 3)
	f.waitFor(t, "orb8_dns_latency_seconds", nil, 3)
	for i, e := range f.lookups(t, 3) {
		if e.DNS.QName != long(i) {
			t.Errorf("lookup %d: name %q, want %q", i, e.DNS.QName, long(i))
		}
	}
}
