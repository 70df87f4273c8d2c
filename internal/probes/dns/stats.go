package dns

import "github.com/prometheus/client_golang/prometheus"

// latencyBuckets are the upper bounds of orb8_dns_latency_seconds: 50 µs
// (a loopback resolver) doubling to 6.5 s (past every resolver's timeout).
var latencyBuckets = prometheus.ExponentialBuckets(50e-6, 2, numLatencyBuckets)

const numLatencyBuckets = 18

type responseKey struct{ qtype, rcode string }

// workloadStats are one cgroup's DNS counts. Every label value comes from
// TypeName or RCodeName, so the maps stay small whatever the traffic.
type workloadStats struct {
	queries    map[string]uint64 // by qtype
	responses  map[responseKey]uint64
	unanswered map[string]uint64 // by qtype
	unmatched  uint64            // responses whose query was not seen
	latency    histogram
}

func newWorkloadStats() *workloadStats {
	return &workloadStats{queries: map[string]uint64{}, responses: map[responseKey]uint64{}, unanswered: map[string]uint64{}}
}

// add folds src into ws (copies for a scrape, cgroups of one workload).
func (ws *workloadStats) add(src *workloadStats) {
	for k, v := range src.queries {
		ws.queries[k] += v
	}
	for k, v := range src.responses {
		ws.responses[k] += v
	}
	for k, v := range src.unanswered {
		ws.unanswered[k] += v
	}
	ws.unmatched += src.unmatched
	ws.latency.add(&src.latency)
}

// histogram counts observations per latencyBuckets bound (not cumulative);
// the last slot is +Inf.
type histogram struct {
	counts [numLatencyBuckets + 1]uint64
	count  uint64
	sum    float64
}

// observe counts n observations of seconds.
func (h *histogram) observe(seconds float64, n uint64) {
	i := 0
	for i < len(latencyBuckets) && seconds > latencyBuckets[i] {
		i++
	}
	h.counts[i] += n
	h.count += n
	h.sum += seconds * float64(n)
}

func (h *histogram) add(src *histogram) {
	for i, c := range src.counts {
		h.counts[i] += c
	}
	h.count += src.count
	h.sum += src.sum
}

// cumulative returns the buckets as Prometheus wants them.
func (h *histogram) cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(latencyBuckets))
	var acc uint64
	for i, bound := range latencyBuckets {
		acc += h.counts[i]
		out[bound] = acc
	}
	return out
}
