package anomaly

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/cgroup"
)

// m0 starts a minute (and an hour).
var m0 = time.Unix(1_800_000_000, 0)

func at(minute int) time.Time { return m0.Add(time.Duration(minute) * time.Minute) }

// rateStore learns for ten minutes.
func rateStore() *Store {
	return NewStore(Options{Learning: 10 * time.Minute, MaxProfiles: 10, MaxItems: 10, Minute: time.Minute})
}

var web = Identity{Cgroup: "/web"}

// execs counts n execs of /web in the minute.
func execs(s *Store, minute, n int) []RateAnomaly {
	var out []RateAnomaly
	for i := range n {
		out = append(out, s.Count(web, &cgroup.Workload{Path: "/web"}, &Sample{Exec: true}, at(minute).Add(time.Duration(i)*time.Millisecond))...)
	}
	return out
}

// TestBaselineLearn: while learning the mean and the mean absolute
// deviation are those of every minute so far, the peak their maximum.
func TestBaselineLearn(t *testing.T) {
	var b Baseline
	b.learn(2)
	b.learn(4)
	if b != (Baseline{Mean: 3, Dev: 1, Peak: 4, Minutes: 2}) {
		t.Fatalf("baseline %+v", b)
	}
	// The highest of mean+6 dev (15), peak+floor/2 (19), mean+floor (33).
	if got := b.Threshold(Execs); got != 33 {
		t.Fatalf("threshold %v, want 33", got)
	}
	b = Baseline{Mean: 10, Dev: 5, Peak: 20, Minutes: 100}
	if got := b.Threshold(Execs); got != 40 {
		t.Fatalf("threshold %v, want 40 (mean + 6 deviations)", got)
	}
	if b.severe(Execs, 99) || !b.severe(Execs, 100) {
		t.Fatal("severe from 3 times the threshold's distance from the mean (100)")
	}
}

// TestBaselineFollow: after learning a minute moves the baseline by
// 1/1440, capped at the threshold, and the peak decays towards the mean.
func TestBaselineFollow(t *testing.T) {
	b := Baseline{Mean: 10, Dev: 0, Peak: 20, Minutes: 10}
	b.follow(Execs, 1000) // capped at 40
	a := 1.0 / 1440
	want := Baseline{Mean: 10 + a*30, Dev: a * 30, Minutes: 11}
	want.Peak = 40
	if b != want {
		t.Fatalf("baseline %+v, want %+v", b, want)
	}
	b = Baseline{Mean: 10, Peak: 20, Minutes: 10}
	b.follow(Execs, 10)
	if b.Mean != 10 || b.Dev != 0 || b.Peak != 20-10.0/peakMinutes {
		t.Fatalf("baseline %+v after a usual minute", b)
	}
}

// TestRateEpisode: a workload learned at 5 execs a minute raises nothing
// at that rate; a severe minute raises one rate anomaly at once, the
// minutes after it in the same episode nothing, and after 10 quiet
// minutes a new episode raises again.
func TestRateEpisode(t *testing.T) {
	s := rateStore()
	var raised []RateAnomaly
	for m := range 60 {
		raised = append(raised, execs(s, m, 5)...)
	}
	if len(raised) != 0 {
		t.Fatalf("a steady workload raised %+v", raised)
	}
	p, _ := s.Profile("/web")
	// 60 minutes closed: the 60th is closed by the next event.
	if b := p.Rates[Execs]; b != (Baseline{Mean: 5, Peak: 5, Minutes: 59}) {
		t.Fatalf("exec baseline %+v", b)
	}
	raised = execs(s, 60, 100)
	raised = append(raised, execs(s, 61, 100)...)
	want := RateAnomaly{Identity: web, Feature: Execs, Value: 100, Baseline: 5, Threshold: 35, Minute: at(60), Workload: cgroup.Workload{Path: "/web"}}
	if len(raised) != 1 || raised[0] != want {
		t.Fatalf("raised %+v, want %+v", raised, want)
	}
	for m := 62; m < 72; m++ {
		if got := execs(s, m, 5); len(got) != 0 {
			t.Fatalf("minute %d raised %+v", m, got)
		}
	}
	// Minute 61 was high, 62..71 quiet: the 10th quiet one (71) closes
	// the episode when minute 72's event closes it.
	execs(s, 72, 100)
	raised = execs(s, 73, 5)
	if len(raised) != 1 || raised[0].Minute != at(72) {
		t.Fatalf("a second episode raised %+v", raised)
	}
	if b := s.profiles["/web"].rates.baselines[Execs]; b.Mean != 5 || b.Minutes != 60 {
		t.Fatalf("exec baseline %+v: minutes 60 to 73 (high, or in an episode) are not followed", b)
	}
}

// TestRatePersistence: one high minute that is not severe raises nothing;
// a second within three minutes raises one.
func TestRatePersistence(t *testing.T) {
	s := rateStore()
	for m := range 30 {
		execs(s, m, 5)
	}
	for m, n := range []int{50, 5, 5, 50, 5} { // 50 > 35 (threshold), < 95 (severe)
		if got := execs(s, 30+m, n); len(got) != 0 {
			t.Fatalf("minute %d raised %+v", 30+m, got)
		}
	}
	execs(s, 35, 50)
	raised := execs(s, 36, 5)
	if len(raised) != 1 || raised[0].Minute != at(35) || raised[0].Value != 50 {
		t.Fatalf("two high minutes of three raised %+v", raised)
	}
}

// TestRateTick: Tick closes minutes a minute after they end, idle minutes
// count as zero, and past an hour without events they are not learned.
func TestRateTick(t *testing.T) {
	s := rateStore()
	execs(s, 0, 4)
	if got := s.Tick(at(1).Add(30 * time.Second)); len(got) != 0 || s.profiles["/web"].rates.baselines[Execs] != nil {
		t.Fatal("Tick closed the minute before the one before now")
	}
	s.Tick(at(2))
	if b := *s.profiles["/web"].rates.baselines[Execs]; b != (Baseline{Mean: 4, Dev: 0, Peak: 4, Minutes: 1}) {
		t.Fatalf("baseline %+v after one minute", b)
	}
	s.Tick(at(4))
	if b := *s.profiles["/web"].rates.baselines[Execs]; b.Minutes != 3 || math.Abs(b.Mean-4.0/3) > 1e-12 || b.Dev != 2 {
		t.Fatalf("baseline %+v after two idle minutes", b)
	}
	s.Tick(at(500))
	if b := *s.profiles["/web"].rates.baselines[Execs]; b.Minutes != 1+dormantMinutes {
		t.Fatalf("baseline of %d minutes, want %d: a dormant workload learns no idle minutes", b.Minutes, 1+dormantMinutes)
	}
	execs(s, 600, 1)
	s.Tick(at(602))
	if b := *s.profiles["/web"].rates.baselines[Execs]; b.Minutes != 2+dormantMinutes {
		t.Fatalf("baseline of %d minutes after the workload came back", b.Minutes)
	}
}

// TestTickGrace: with a minute shorter than minGrace, Tick closes the
// minutes that ended minGrace before now.
func TestTickGrace(t *testing.T) {
	s := NewStore(Options{Learning: time.Second, MaxProfiles: 1, MaxItems: 1, Minute: 100 * time.Millisecond})
	s.Count(web, &cgroup.Workload{Path: "/web"}, &Sample{Exec: true}, m0)
	s.Tick(m0.Add(2 * time.Second))
	if b := s.profiles["/web"].rates.baselines[Execs]; b != nil {
		t.Fatalf("the minute of m0 closed 2s after its start: %+v", b)
	}
	s.Tick(m0.Add(2100 * time.Millisecond))
	if b := s.profiles["/web"].rates.baselines[Execs]; b == nil || b.Minutes != 1 {
		t.Fatalf("baseline %+v, want the minute of m0 closed 2s after its end", b)
	}
}

// TestLateFeatureLearns: a feature the window never defined (no DNS
// while learning) learns its first 10 minutes after it, then is checked.
func TestLateFeatureLearns(t *testing.T) {
	s := rateStore()
	w := &cgroup.Workload{Path: "/web"}
	lookup := func(minute, length int) []RateAnomaly {
		return s.Count(web, w, &Sample{DNS: true, QName: strings.Repeat("a", length-12) + ".example.com"}, at(minute))
	}
	var raised []RateAnomaly
	for m := range 12 {
		raised = append(raised, execs(s, m, 1)...)
	}
	for m := 12; m < 24; m++ {
		raised = append(raised, lookup(m, 40)...)
	}
	if b := s.profiles["/web"].rates.baselines[NameLength]; len(raised) != 0 || *b != (Baseline{Mean: 40, Peak: 40, Minutes: 11}) {
		t.Fatalf("raised %+v, name length baseline %+v", raised, b)
	}
	raised = append(lookup(24, 100), lookup(25, 100)...)
	raised = append(raised, lookup(26, 40)...)
	want := RateAnomaly{Identity: web, Feature: NameLength, Value: 100, Baseline: 40, Threshold: 64, Minute: at(25), Workload: *w}
	if len(raised) != 1 || raised[0] != want {
		t.Fatalf("raised %+v, want %+v", raised, want)
	}
}

// TestDNSFeatures: the NXDOMAIN ratio is defined by five answers or
// more; name length and entropy are the minute's highest, entropy that of
// the name left of its registered domain.
func TestDNSFeatures(t *testing.T) {
	var m minute
	if _, ok := m.value(NameLength); ok {
		t.Fatal("a minute without queries defined the name length")
	}
	dns := func(name, rcode string) { m.add(&Sample{DNS: true, QName: name, Answered: true, RCode: rcode}) }
	for range 4 {
		dns("api.example.com.", "NOERROR")
	}
	if _, ok := m.value(NXDomainRatio); ok {
		t.Fatal("four answers defined the NXDOMAIN ratio")
	}
	dns("aaaa.example.com", "NXDOMAIN")
	dns("b.example.com", "NXDOMAIN")
	if v, _ := m.value(NameLength); v != 16 {
		t.Fatalf("longest name %v, want 16", v)
	}
	if v, _ := m.value(NXDomainRatio); v != 2.0/6 {
		t.Fatalf("NXDOMAIN ratio %v, want 2/6", v)
	}
	if v, _ := m.value(NameEntropy); math.Abs(v-math.Log2(3)) > 1e-12 {
		t.Fatalf("highest entropy %v, want log2(3) (api)", v)
	}
	if e := Entropy("abcdefghijklmnopqrstuvwxyz234567"); e != 5 {
		t.Fatalf("entropy of 32 distinct bytes %v, want 5", e)
	}
	if Entropy("") != 0 || Entropy("aaaa") != 0 {
		t.Fatal("entropy of no or one byte is not 0")
	}
}

// TestPeersFeature: distinct peers and failures of a minute; past
// maxPeers each further connection counts as a peer.
func TestPeersFeature(t *testing.T) {
	var m minute
	a := netip.MustParseAddrPort("10.0.0.1:80")
	m.add(&Sample{Connect: true, Peer: a})
	m.add(&Sample{Connect: true, Peer: a, Failed: true})
	m.add(&Sample{BytesOut: 1000})
	if v, _ := m.value(Peers); v != 1 {
		t.Fatalf("peers %v", v)
	}
	if v, _ := m.value(ConnFailures); v != 1 {
		t.Fatalf("failures %v", v)
	}
	if v, _ := m.value(BytesOut); v != 1000 {
		t.Fatalf("bytes %v", v)
	}
	for i := range maxPeers + 5 {
		m.add(&Sample{Connect: true, Failed: true, Peer: netip.AddrPortFrom(netip.MustParseAddr("10.0.1.1"), uint16(i+1))})
	}
	if v, _ := m.value(Peers); v != maxPeers+6 || len(m.peers) != maxPeers {
		t.Fatalf("peers %v (%d kept), want %d (%d kept)", v, len(m.peers), maxPeers+6, maxPeers)
	}
}

// TestRatesSaved: baselines survive a save and a load; a baseline that
// is not finite and non-negative, or an unknown feature, is refused.
func TestRatesSaved(t *testing.T) {
	s := rateStore()
	for m := range 20 { // minute 0 has no exec: the profile starts at 1
		execs(s, m, m)
	}
	want, _ := s.Profile("/web")
	dir := t.TempDir()
	if _, err := s.Save(dir); err != nil {
		t.Fatal(err)
	}
	loaded := rateStore()
	if err := loaded.Load(dir); err != nil {
		t.Fatal(err)
	}
	got, _ := loaded.Profile("/web")
	if got.Rates[Execs] != want.Rates[Execs] || len(got.Rates) != 4 {
		t.Fatalf("loaded rates %+v, want %+v", got.Rates, want.Rates)
	}
	for _, bad := range []string{`"rates":{"x":{"mean":1}}`, `"rates":{"exec_rate":{"mean":-1}}`, `"rates":{"exec_rate":{"mean":1e999}}`} {
		doc := `{"version":1,"profiles":[{"identity":{"cgroup":"/x"},"firstSeen":"2026-01-01T00:00:00Z","learnUntil":"2026-01-01T00:00:00Z",` + bad + `}]}`
		if _, err := Decode(strings.NewReader(doc)); err == nil {
			t.Errorf("decoded %s", bad)
		}
	}
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(want.Rates[Execs])
	if !strings.Contains(buf.String(), `"minutes":18`) {
		t.Fatalf("saved baseline %s", buf.String())
	}
}
