package anomaly

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/series"
)

var (
	metrics       series.Set
	anomaliesDesc = metrics.Workload("orb8_anomalies_total",
		"Anomalies raised: items a workload showed for the first time after its behaviour profile was learned (kind: new_binary, new_lineage, new_peer, new_dns_domain, new_listen_port, each once per profile; rate, once per episode of rates far above the workload's baseline).", "kind")
	profilesDesc = metrics.Plain("orb8_anomaly_profiles",
		"Behaviour profiles the agent keeps, by state: learning (within --anomaly-learning of the identity's first event) or frozen.", "state")
	profilesDroppedDesc = metrics.Plain("orb8_anomaly_profiles_dropped_total",
		"Events of workloads without a profile because the profile table was full.")
	itemsDroppedDesc = metrics.Plain("orb8_anomaly_items_dropped_total",
		"Items a profile did not keep because its set was full: not learned while learning, not raised after.", "kind")
	missedDesc = metrics.Plain("orb8_anomaly_events_missed_total",
		"Exec, connection and DNS events the profiler lost because its buffer was full: they were neither learned nor checked.")
	saveErrorsDesc = metrics.Plain("orb8_anomaly_state_save_errors_total",
		"Saves of the profiles to --state-dir that failed; the first is logged.")
)

// Describe sends the descriptors of every anomaly metric.
func Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }

// Counter counts the anomalies raised per workload and kind, and exports
// them with the store's gauges and counters.
type Counter struct {
	store    *Store
	resolver *cgroup.Resolver
	// missed counts events the profiler lost; SaveErrors failed saves.
	missed     func() uint64
	SaveErrors atomic.Uint64
	mu         sync.Mutex
	raised     map[countKey]uint64
}

type countKey struct {
	cgroup uint64
	kind   Kind
}

// NewCounter exports the anomalies of store's profiles, their workloads
// named by resolver, and the events the profiler missed.
func NewCounter(store *Store, resolver *cgroup.Resolver, missed func() uint64) *Counter {
	return &Counter{store: store, resolver: resolver, raised: map[countKey]uint64{}, missed: missed}
}

// Raise counts an anomaly of kind in the cgroup.
func (c *Counter) Raise(cgroupID uint64, k Kind) {
	c.mu.Lock()
	c.raised[countKey{cgroupID, k}]++
	c.mu.Unlock()
}

// Forget drops the counts of gone cgroups (probe.Forgetter).
func (c *Counter) Forget(ids []uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		for _, k := range Kinds {
			delete(c.raised, countKey{id, k})
		}
		delete(c.raised, countKey{id, Rate})
	}
}

// Describe implements prometheus.Collector.
func (c *Counter) Describe(ch chan<- *prometheus.Desc) { Describe(ch) }

// Collect implements prometheus.Collector.
func (c *Counter) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	for k, n := range c.raised {
		if w, ok := c.resolver.Visible(k.cgroup); ok {
			ch <- series.Metric(anomaliesDesc, prometheus.CounterValue, float64(n), w, string(k.kind))
		}
	}
	c.mu.Unlock()
	learning, frozen, dropped, overflow := c.store.Counts(time.Now())
	ch <- prometheus.MustNewConstMetric(profilesDesc, prometheus.GaugeValue, float64(learning), "learning")
	ch <- prometheus.MustNewConstMetric(profilesDesc, prometheus.GaugeValue, float64(frozen), "frozen")
	ch <- prometheus.MustNewConstMetric(profilesDroppedDesc, prometheus.CounterValue, float64(dropped))
	for _, k := range Kinds {
		ch <- prometheus.MustNewConstMetric(itemsDroppedDesc, prometheus.CounterValue, float64(overflow[k]), string(k))
	}
	ch <- prometheus.MustNewConstMetric(missedDesc, prometheus.CounterValue, float64(c.missed()))
	ch <- prometheus.MustNewConstMetric(saveErrorsDesc, prometheus.CounterValue, float64(c.SaveErrors.Load()))
}
