package dns

import (
	"encoding/hex"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
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

// A socket that sends its queries with sendto, unconnected, as some
// resolvers do, has its lookups counted the same.
func TestUnconnectedSocketQueries(t *testing.T) {
	f := newScene(t, "127.0.0.1")
	f.startProbe(t, DefaultConfig())
	var raw []string
	for id := range uint16(3) {
		raw = append(raw, hex.EncodeToString(newQuery(id, "ok-unconnected.orb8.test.", dnsmessage.TypeAAAA)))
	}
	if err := helper(t, f.client, f.ns, "raw", "ORB8_DNS_SERVER=127.0.0.1:53", "ORB8_DNS_UNCONNECTED=1",
		"ORB8_DNS_RAW="+strings.Join(raw, ",")).Run(); err != nil {
		t.Fatalf("raw client: %v", err)
	}
	f.waitFor(t, "orb8_dns_queries_total", map[string]string{"qtype": "AAAA"}, 3)
	f.waitFor(t, "orb8_dns_responses_total", map[string]string{"qtype": "AAAA", "rcode": "NOERROR"}, 3)
	f.waitFor(t, "orb8_dns_latency_seconds", nil, 3)
}

// A retry of a waiting query (same socket, server and id) is the same
// lookup: counted as a query, unanswered once.
func TestRetryJoinsItsWaitingQuery(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Timeout = time.Second // past the 300 ms the raw client waits between the two
	f := newScene(t, "127.0.0.1")
	f.startProbe(t, cfg)
	q := hex.EncodeToString(newQuery(7, dropPrefix+"retry.orb8.test.", dnsmessage.TypeA))
	if err := helper(t, f.client, f.ns, "raw", "ORB8_DNS_SERVER=127.0.0.1:53", "ORB8_DNS_RAW="+q+","+q).Run(); err != nil {
		t.Fatalf("raw client: %v", err)
	}
	f.waitFor(t, "orb8_dns_queries_total", map[string]string{"qtype": "A"}, 2)
	f.waitFor(t, "orb8_dns_unanswered_total", map[string]string{"qtype": "A"}, 1)
	time.Sleep(cfg.Timeout) // a second unanswered lookup would have expired by now
	f.waitFor(t, "orb8_dns_unanswered_total", map[string]string{"qtype": "A"}, 1)
}

// The kernel holds waiting queries in buckets of 4 slots: of 40,000
// unanswered queries from one socket each is either held (and then counted
// unanswered once, its slot freed) or counted as not followed
// (pending_full), and some are each.
func TestWaitingQueriesBeyondTheTableAreCounted(t *testing.T) {
	const n = 40000
	cfg := DefaultConfig()
	cfg.Timeout = 3 * time.Second // the spray (~1 s) ends before the first query expires
	f := newScene(t, "127.0.0.1")
	f.startProbe(t, cfg)
	if err := helper(t, f.client, f.ns, "spray", "ORB8_DNS_SERVER=127.0.0.1:53", "ORB8_DNS_COUNT="+strconv.Itoa(n)).Run(); err != nil {
		t.Fatalf("spray: %v", err)
	}
	sample := func(name string, labels map[string]string) float64 {
		v, _ := testutil.Sample(t, f.reg, name, labels)
		return v
	}
	full := func() float64 { return sample("orb8_dns_dropped_total", map[string]string{"reason": "pending_full"}) }
	unanswered := func() float64 { return sample("orb8_dns_unanswered_total", map[string]string{"qtype": "A"}) }
	waiting := func() (n float64) {
		err := probe.ForEach(f.probe.bpf.DnsPending, func(_ uint32, s *dnsPendingSlot) {
			if s.Q.BootNs != 0 {
				n++
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	f.waitFor(t, "orb8_dns_queries_total", map[string]string{"qtype": "A"}, n)
	// Each query waits, was counted unanswered (its slot freed), or was not
	// followed; the kernel's count of waiting queries is the slots in use.
	// Read between two equal readings of unanswered, so that no walk freed
	// a slot meanwhile (none has yet unless the spray outlasted the timeout).
	var r struct { // a pointer to it prints what the last try read
		Waiting, Unanswered, NotFollowed float64
		KernelCount                      uint64
		KernelErr                        error
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		before := unanswered()
		r.Waiting, r.NotFollowed = waiting(), full()
		r.KernelCount, r.KernelErr = f.probe.kernelWaiting()
		r.Unanswered = unanswered()
		return before == r.Unanswered && r.KernelErr == nil && float64(r.KernelCount) == r.Waiting &&
			r.Waiting+r.Unanswered+r.NotFollowed == n
	}, "%+v: want the kernel's count of waiting queries equal to those waiting, and %d in all", &r, n)
	held, notFollowed := r.Waiting+r.Unanswered, r.NotFollowed
	if held == 0 || notFollowed == 0 {
		t.Fatalf("%v held, %v not followed: want some of each", held, notFollowed)
	}
	var counted struct{ Unanswered float64 } // a pointer to it prints the last reading
	testutil.Eventually(t, 2*cfg.Timeout, func() bool { counted.Unanswered = unanswered(); return counted.Unanswered == held },
		"%+v: want the %v held", &counted, held)
	time.Sleep(cfg.Timeout / 2) // two more walks count nothing again
	if u, w := unanswered(), waiting(); u != held || w != 0 {
		t.Fatalf("after more walks: unanswered %v (want %v), %v slots still held", u, held, w)
	}
	if w, err := f.probe.kernelWaiting(); err != nil || w != 0 { // so the walk reads nothing
		t.Fatalf("the kernel's count of waiting queries: %d (%v), want 0", w, err)
	}
	t.Logf("of %d queries %v were held, %v not followed", n, held, notFollowed)
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
