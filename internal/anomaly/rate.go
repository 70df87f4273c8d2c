package anomaly

import (
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/orb8/orb8/internal/cgroup"
)

// Rate is the kind of the anomalies of the rate model: a minute of a
// workload whose rates stand far above its baseline.
const Rate Kind = "rate"

// Feature is one of the rates a workload's minutes are measured by.
type Feature string

// The features of a minute.
const (
	// Execs is the programs the workload executed.
	Execs Feature = "exec_rate"
	// ConnFailures is its outbound TCP connections that failed.
	ConnFailures Feature = "connection_failures"
	// NXDomainRatio is its DNS responses that said NXDOMAIN, as a share of
	// those answered (defined with at least minDNS answered).
	NXDomainRatio Feature = "dns_nxdomain_ratio"
	// NameEntropy is the highest Shannon entropy (bits per character) of
	// the part of its query names left of the registered domain;
	// NameLength the longest query name. Both defined by one query: a
	// tunnel's names stand out one by one, while a mean over the minute
	// would dilute a slow tunnel in the workload's usual lookups.
	NameEntropy Feature = "dns_name_entropy"
	NameLength  Feature = "dns_name_length"
	// BytesOut is the payload bytes its TCP connections sent, counted when
	// each closes.
	BytesOut Feature = "bytes_out"
	// Peers is the distinct remote address and port pairs it connected or
	// tried to connect to.
	Peers Feature = "distinct_peers"
)

// Features lists every feature, in the order anomalies are reported.
var Features = []Feature{Execs, ConnFailures, NXDomainRatio, NameEntropy, NameLength, BytesOut, Peers}

// floors are each feature's least rise above its mean that may be an
// anomaly: what a busy minute of any ordinary workload can show without
// meaning anything. They keep baselines learned from quiet workloads (a
// deviation near zero) from raising on the first busy minute.
var floors = map[Feature]float64{
	Execs:         30,
	ConnFailures:  10,
	NXDomainRatio: 0.5,
	NameEntropy:   1,
	NameLength:    24,
	BytesOut:      8 << 20,
	Peers:         20,
}

func (f Feature) known() bool {
	_, ok := floors[f]
	return ok
}

// The model's parameters, in minutes of the model (RateOptions.Minute).
const (
	// devs is how many mean absolute deviations above the mean a minute
	// must be, besides the floor and the learned peak.
	devs = 6
	// severity: a minute this many times further above the mean than the
	// threshold opens an episode alone; a high one needs a second within
	// the last window minutes.
	severity = 3
	window   = 3
	// quietMinutes without a high minute close an episode.
	quietMinutes = 10
	// slowMinutes is the memory of the baselines after learning (a day);
	// peakMinutes how fast a learned peak not seen again decays (a week).
	slowMinutes = 1440
	peakMinutes = 7 * 1440
	// minDNS is the fewest DNS answers that define the NXDOMAIN ratio of
	// a minute; minLearned the fewest minutes a feature must be learned
	// in (after the window too) to be checked.
	minDNS     = 5
	minLearned = 10
	// dormantMinutes: past this many minutes without an event a workload
	// is taken to be gone (no replica on the node) and its idle minutes
	// are not counted, so a baseline does not sink while nothing runs.
	dormantMinutes = 60
	// maxPeers bounds the distinct peers a minute tells apart.
	maxPeers = 1024
)

// Baseline is what a profile learned of one feature: the mean of its
// minutes, their mean absolute deviation from it, the highest minute seen
// (decaying once frozen), and how many minutes made it.
type Baseline struct {
	Mean    float64 `json:"mean"`
	Dev     float64 `json:"dev"`
	Peak    float64 `json:"peak"`
	Minutes uint64  `json:"minutes"`
}

// Threshold is the value above which a minute of f is high: the highest
// of the mean plus devs deviations, the learned peak plus half the floor,
// and the mean plus the floor.
func (b Baseline) Threshold(f Feature) float64 {
	floor := floors[f]
	return max(b.Mean+devs*b.Dev, b.Peak+floor/2, b.Mean+floor)
}

// severe reports whether x is so far above the mean that one minute opens
// an episode.
func (b Baseline) severe(f Feature, x float64) bool {
	return x-b.Mean >= severity*(b.Threshold(f)-b.Mean)
}

// learn adds a minute while the profile learns: the mean and deviation
// over every minute so far (the first minute's deviation is none).
func (b *Baseline) learn(x float64) {
	b.Minutes++
	if b.Minutes == 1 {
		b.Mean, b.Dev, b.Peak = x, 0, x
		return
	}
	a := 1 / float64(b.Minutes)
	b.Dev += a * (math.Abs(x-b.Mean) - b.Dev)
	b.Mean += a * (x - b.Mean)
	b.Peak = max(b.Peak, x)
}

// follow adds a minute of a frozen profile, slowly: x is first capped at
// the threshold, so that a rise moves the baseline by little, and the
// peak decays towards the mean unless minutes reach it again.
func (b *Baseline) follow(f Feature, x float64) {
	x = min(x, b.Threshold(f))
	b.Minutes++
	const a = 1.0 / slowMinutes
	b.Dev += a * (math.Abs(x-b.Mean) - b.Dev)
	b.Mean += a * (x - b.Mean)
	b.Peak = max(b.Peak-(b.Peak-b.Mean)/peakMinutes, x)
}

func (b Baseline) valid() bool {
	for _, v := range []float64{b.Mean, b.Dev, b.Peak} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return false
		}
	}
	return true
}

// Sample is what one event adds to its workload's minute.
type Sample struct {
	Exec bool
	// Connect is an outbound connection opened or, with Failed, failed:
	// Peer is its remote address and port.
	Connect, Failed bool
	Peer            netip.AddrPort
	// BytesOut is what a closed connection sent.
	BytesOut uint64
	// DNS is a lookup of QName; Answered with RCode when a response came.
	DNS      bool
	QName    string
	RCode    string
	Answered bool
}

// minute adds up one workload's samples of one minute.
type minute struct {
	execs, failures, bytesOut    uint64
	queries, answered, nxdomains uint64
	entropy, length              float64 // the highest of the minute
	peers                        map[netip.AddrPort]struct{}
	peersOver                    uint64
}

func (m *minute) add(s *Sample) {
	if s.Exec {
		m.execs++
	}
	if s.Connect {
		if s.Failed {
			m.failures++
		}
		if _, ok := m.peers[s.Peer]; !ok {
			if m.peers == nil {
				m.peers = map[netip.AddrPort]struct{}{}
			}
			if len(m.peers) < maxPeers {
				m.peers[s.Peer] = struct{}{}
			} else {
				m.peersOver++
			}
		}
	}
	m.bytesOut += s.BytesOut
	if s.DNS {
		name := strings.ToLower(strings.TrimSuffix(s.QName, "."))
		m.queries++
		m.length = max(m.length, float64(len(name)))
		m.entropy = max(m.entropy, Entropy(strings.TrimSuffix(strings.TrimSuffix(name, Domain(name)), ".")))
		if s.Answered {
			m.answered++
			if s.RCode == "NXDOMAIN" {
				m.nxdomains++
			}
		}
	}
}

// value is the minute's value of f; false when the minute does not define
// it (too few DNS messages).
func (m *minute) value(f Feature) (float64, bool) {
	switch f {
	case Execs:
		return float64(m.execs), true
	case ConnFailures:
		return float64(m.failures), true
	case NXDomainRatio:
		return float64(m.nxdomains) / float64(max(m.answered, 1)), m.answered >= minDNS
	case NameEntropy:
		return m.entropy, m.queries > 0
	case NameLength:
		return m.length, m.queries > 0
	case BytesOut:
		return float64(m.bytesOut), true
	case Peers:
		// Past maxPeers each connection may be to a new peer: count it.
		return float64(uint64(len(m.peers)) + m.peersOver), true
	}
	return 0, false
}

// Entropy is the Shannon entropy of s's bytes, in bits per byte: 0 for ""
// or one repeated byte, log2(32) = 5 for a random base32 string.
func Entropy(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// RateAnomaly opens an episode of a workload's rates: the feature that
// stood furthest above its threshold in the minute that opened it.
type RateAnomaly struct {
	Identity  Identity
	Feature   Feature
	Value     float64
	Baseline  float64 // the feature's mean
	Threshold float64
	// Minute is the start of the minute that opened the episode.
	Minute time.Time
	// Workload is the workload of the identity's last event.
	Workload cgroup.Workload
}

// rates is a profile's rate model: its baselines, the minute being added
// up, and the episode state.
type rates struct {
	baselines map[Feature]*Baseline
	cur       minute
	curIdx    int64 // the minute cur adds up; 0 before the first sample
	lastEvent int64 // the last minute with a sample
	// recent has bit i set when the minute i minutes before the last
	// closed one was high; open while an episode is, quiet the minutes
	// since its last high one.
	recent uint8
	open   bool
	quiet  int
	// workload is the identity's workload of the last sample.
	workload cgroup.Workload
}

func newRates() *rates { return &rates{baselines: map[Feature]*Baseline{}} }

// closeMinute closes the minute cur adds up, learning or checking it, and
// returns the anomaly that opens an episode, if any.
func (r *rates) closeMinute(id Identity, size time.Duration, learning bool) (RateAnomaly, bool) {
	m := &r.cur
	var worst RateAnomaly
	worstExcess, high, severe := 0.0, false, false
	for _, f := range Features {
		x, ok := m.value(f)
		if !ok {
			continue
		}
		fHigh := false
		b := r.baselines[f]
		if b == nil {
			b = &Baseline{}
			r.baselines[f] = b
		}
		// A feature the window defined in fewer than minLearned minutes
		// (a workload that seldom looks names up) learns its first ones
		// whenever they come.
		if learning || b.Minutes < minLearned {
			b.learn(x)
			continue
		}
		t := b.Threshold(f)
		if x > t {
			high = true
			fHigh = true
			severe = severe || b.severe(f, x)
			if excess := (x - b.Mean) / (t - b.Mean); excess > worstExcess {
				worstExcess = excess
				worst = RateAnomaly{Identity: id, Feature: f, Value: x, Baseline: b.Mean, Threshold: t, Minute: time.Unix(0, r.curIdx*int64(size)), Workload: r.workload}
			}
		}
		if !r.open && !fHigh {
			b.follow(f, x)
		}
	}
	r.cur = minute{}
	r.curIdx++
	if learning {
		return RateAnomaly{}, false
	}
	r.recent <<= 1
	if high {
		r.recent |= 1
	}
	if r.open {
		if high {
			r.quiet = 0
		} else if r.quiet++; r.quiet >= quietMinutes {
			r.open = false
		}
		return RateAnomaly{}, false
	}
	highs := 0
	for i := range window {
		highs += int(r.recent >> i & 1)
	}
	if severe || highs >= 2 {
		r.open, r.quiet = true, 0
		return worst, true
	}
	return RateAnomaly{}, false
}
