package dns

import (
	"encoding/hex"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/testutil"
)

// With nobody listening, UDP lookups are matched and counted in the kernel,
// and none of their messages reaches user space.
func TestUDPCountedInKernelWithoutListeners(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Timeout = 200 * time.Millisecond
	f := newScene(t, "127.0.0.1")
	f.startProbe(t, cfg)
	all := append(append(names(nxPrefix, 5), names(dropPrefix, 2)...), names("ok-", 3)...)
	runQueries(t, f.client, f.ns, "udp", "127.0.0.1:53", "A", all)

	f.waitFor(t, "orb8_dns_queries_total", map[string]string{"qtype": "A"}, 10)
	f.waitFor(t, "orb8_dns_responses_total", map[string]string{"qtype": "A", "rcode": "NXDOMAIN"}, 5)
	f.waitFor(t, "orb8_dns_responses_total", map[string]string{"qtype": "A", "rcode": "NOERROR"}, 3)
	f.waitFor(t, "orb8_dns_unanswered_total", map[string]string{"qtype": "A"}, 2)
	f.waitFor(t, "orb8_dns_latency_seconds", nil, 8)
	f.waitFor(t, "orb8_dns_unmatched_responses_total", nil, 0)
	f.serverCounted(t)
	// With nobody listening no UDP message of the node reaches user space.
	if n := f.probe.Records(); n != 0 {
		t.Fatalf("%d records reached user space, want none", n)
	}
}

// The kernel reads the first question's type as the tracker's parser does:
// types without a name count as OTHER, a message without a question as
// NONE, a compression pointer ends the name, and bad labels are malformed.
func TestKernelReadsQuestions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Timeout = 200 * time.Millisecond
	f := newScene(t, "127.0.0.1")
	f.startProbe(t, cfg)

	other := newQuery(1, "ok-other.orb8.test.", dnsmessage.Type(999))
	noQuestion := []byte{0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	// The name is a pointer to offset 0: id 0's first byte, the root name.
	pointer := append([]byte{0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0}, 0, 1, 0, 1)
	extended := newQuery(3, "ok-ext.orb8.test.", dnsmessage.TypeA)
	extended[12] |= 0x40 // an extended label type (RFC 6891)
	tooLong := []byte{0, 4, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	for range 5 { // 5 x 64 bytes: past the 255 of a name
		tooLong = append(append(tooLong, 63), strings.Repeat("a", 63)...)
	}
	tooLong = append(tooLong, 0, 0, 1, 0, 1)
	var raw []string
	for _, m := range [][]byte{other, noQuestion, pointer, extended, tooLong} {
		raw = append(raw, hex.EncodeToString(m))
	}
	if err := helper(t, f.client, f.ns, "raw", "ORB8_DNS_SERVER=127.0.0.1:53", "ORB8_DNS_RAW="+strings.Join(raw, ",")).Run(); err != nil {
		t.Fatalf("raw client: %v", err)
	}

	f.waitFor(t, "orb8_dns_queries_total", map[string]string{"qtype": "OTHER"}, 1)
	f.waitFor(t, "orb8_dns_responses_total", map[string]string{"qtype": "OTHER", "rcode": "NOERROR"}, 1)
	f.waitFor(t, "orb8_dns_queries_total", map[string]string{"qtype": "NONE"}, 1)
	f.waitFor(t, "orb8_dns_unanswered_total", map[string]string{"qtype": "NONE"}, 1)
	f.waitFor(t, "orb8_dns_queries_total", map[string]string{"qtype": "A"}, 1)
	f.waitFor(t, "orb8_dns_responses_total", map[string]string{"qtype": "A", "rcode": "NOERROR"}, 1)
	malformed := func() float64 {
		v, _ := testutil.Sample(t, f.reg, "orb8_dns_dropped_total", map[string]string{"reason": "malformed"})
		return v
	}
	testutil.Eventually(t, 3*time.Second, func() bool { return malformed() == 2 }, "malformed messages %v, want 2", malformed())
}

// A log of recent lookups (a sample subscriber) gets DNS_SAMPLE_PER_SEC
// lookups a second while nobody wants them all, and the counts stay exact.
// The probe sees the client's sockets only, so no other traffic of the node
// takes from the budget.
func TestSampleSubscriberGetsABoundedShare(t *testing.T) {
	const n, perSecond = 4000, 256
	f := newScene(t, "127.0.0.1")
	f.startProbeAt(t, DefaultConfig(), f.client.Dir)
	sub := f.bus.SubscribeSample(n, []string{events.KindDNS})
	t.Cleanup(func() { f.bus.Unsubscribe(sub) })

	cmd := helper(t, f.client, f.ns, "flood", "ORB8_DNS_SERVER=127.0.0.1:53", "ORB8_DNS_COUNT=4000", "ORB8_DNS_WORKERS=4", "ORB8_DNS_RATE=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("flood: %v", err)
	}
	f.waitFor(t, "orb8_dns_queries_total", map[string]string{"qtype": "A"}, n)
	f.waitFor(t, "orb8_dns_responses_total", map[string]string{"qtype": "A", "rcode": "NOERROR"}, n)
	got := 0
	for idle := false; !idle; {
		select {
		case e := <-sub.C:
			if e.Workload.Path == f.client.Path {
				got++
			}
		case <-time.After(200 * time.Millisecond):
			idle = true
		}
	}
	elapsed, err := time.ParseDuration(strings.TrimSpace(string(out)) + "ns")
	if err != nil {
		t.Fatalf("flood output %q: %v", out, err)
	}
	// The budget renews each second of boot time: a flood of d seconds spans
	// at most d+2 of them, and CPUs racing for its last lookup may each take one.
	windows := int(elapsed.Seconds()) + 2
	most := (perSecond + runtime.NumCPU()) * windows
	// The first second the flood touches has a whole budget: n is far more.
	if got < perSecond || got > most {
		t.Fatalf("%d lookups of %d in %v reached the sample subscriber, want %d..%d", got, n, elapsed, perSecond, most)
	}
	t.Logf("%d lookups of %d in %v reached the sample subscriber", got, n, elapsed)
}
