package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/version"
)

var (
	probeUpDesc     = prometheus.NewDesc("orb8_probe_up", "1 when the probe is loaded and attached, 0 when it could not run.", []string{"probe"}, nil)
	eventsDesc      = prometheus.NewDesc("orb8_events_total", "Single events the agent read from the probe's ring buffers.", []string{"probe"}, nil)
	lostDesc        = prometheus.NewDesc("orb8_events_lost_total", "Events the probe dropped because its ring buffer was full.", []string{"probe"}, nil)
	collectErrDesc  = prometheus.NewDesc("orb8_probe_collect_errors_total", "Scrapes in which the probe could not read part of its state (its series then miss); the first failure is logged.", []string{"probe"}, nil)
	mapFullDesc     = prometheus.NewDesc("orb8_bpf_map_full_total", "Entries a probe could not track because a bounded BPF map was full.", []string{"probe"}, nil)
	runtimeDesc     = prometheus.NewDesc("orb8_bpf_program_run_seconds_total", "Time the kernel spent running the probe's BPF programs (kernel BPF stats).", []string{"probe"}, nil)
	runCountDesc    = prometheus.NewDesc("orb8_bpf_program_runs_total", "Times the probe's BPF programs ran.", []string{"probe"}, nil)
	recursionDesc   = prometheus.NewDesc("orb8_bpf_program_recursion_misses_total", "Runs of the probe's BPF programs the kernel skipped because a program was already running on that CPU (an interrupt arriving during a run; for tp_btf and fentry programs the same one, for kprobes, uprobes and tracepoints any, Linux 6.7+): what those runs would have counted is missing.", []string{"probe"}, nil)
	workloadsDesc   = prometheus.NewDesc("orb8_tracked_workloads", "Cgroups the resolver tracks.", nil, nil)
	untrackedDesc   = prometheus.NewDesc("orb8_workloads_untracked_total", "Cgroups not tracked because the resolver's table was full.", nil, nil)
	buildInfoDesc   = prometheus.NewDesc("orb8_build_info", "Build of the running agent, and the cgroup hierarchy it names workloads by (unified or v1-memory).", []string{"version", "cgroup_hierarchy"}, nil)
	exportErrDesc   = prometheus.NewDesc("orb8_export_errors_total", "OTLP pushes (metrics, audit logs, spans) that failed.", nil, nil)
	auditMissedDesc = prometheus.NewDesc("orb8_audit_records_missed_total", "Policy matches and anomalies an audit sink lacks (file: --audit-log, otlp: OTLP logs): its buffer was full, or the write or export failed.", []string{"sink"}, nil)
	podEventsDesc   = prometheus.NewDesc("orb8_kube_events_dropped_total", "Kubernetes Events on pods that policies acted on, not recorded: over the pod's rate (25 at once, then one per 5 minutes), the queue full, or the write failed.", nil, nil)
	overheadDesc    = prometheus.NewDesc("orb8_overhead_ratio", "Share of the node's CPU the agent cost over the last second: its own CPU time, and its BPF programs' run time with --bpf-stats. Above --max-overhead, probes shed records (orb8_sampling_ratio).", nil, nil)
	samplingDesc    = prometheus.NewDesc("orb8_sampling_ratio", "Share of the probe's records (DNS messages, connection records) user space handles while the agent sheds load to stay under --max-overhead; each kept record counts for the shed ones. 1: all.", []string{"probe"}, nil)
	spansMissedDesc = prometheus.NewDesc("orb8_spans_missed_total", "Spans of HTTP requests (--otlp-traces-endpoint) that did not reach the receiver: the agent's event buffer or span queue was full, or the export failed.", nil, nil)
	selfDescriptors = []*prometheus.Desc{probeUpDesc, eventsDesc, lostDesc, collectErrDesc, mapFullDesc, runtimeDesc, runCountDesc, recursionDesc, workloadsDesc, untrackedDesc, buildInfoDesc, exportErrDesc, auditMissedDesc, podEventsDesc, overheadDesc, samplingDesc, spansMissedDesc}
)

// selfCollector exports the agent's own health: which probes run, what they
// read and lost, and what they cost in the kernel.
type selfCollector struct{ a *Agent }

func newSelfCollector(a *Agent) *selfCollector { return &selfCollector{a: a} }

func (c *selfCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range selfDescriptors {
		ch <- d
	}
}

func (c *selfCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.a.probes {
		if !p.tried.Load() {
			continue
		}
		status := p.current()
		up := 0.0
		if status.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(probeUpDesc, prometheus.GaugeValue, up, p.Name())
		if !p.status.Up {
			continue
		}
		ch <- prometheus.MustNewConstMetric(collectErrDesc, prometheus.CounterValue, float64(p.collectErrors.Load()), p.Name())
		objs := p.Objects()
		if objs == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, float64(objs.EventsRead()), p.Name())
		if counters, err := objs.Counters(); err == nil {
			ch <- prometheus.MustNewConstMetric(lostDesc, prometheus.CounterValue, float64(counters.RingbufLost), p.Name())
			ch <- prometheus.MustNewConstMetric(mapFullDesc, prometheus.CounterValue, float64(counters.MapFull), p.Name())
		}
		var seconds, runs, misses float64
		for _, prog := range objs.Programs() {
			if st, err := prog.Stats(); err == nil {
				seconds += st.Runtime.Seconds()
				runs += float64(st.RunCount)
				misses += float64(st.RecursionMisses)
			}
		}
		ch <- prometheus.MustNewConstMetric(recursionDesc, prometheus.CounterValue, misses, p.Name())
		// The kernel counts runs only while its statistics are on (--bpf-stats,
		// or anything else on the node): no runs means no figures, not zero.
		if runs > 0 {
			ch <- prometheus.MustNewConstMetric(runtimeDesc, prometheus.CounterValue, seconds, p.Name())
			ch <- prometheus.MustNewConstMetric(runCountDesc, prometheus.CounterValue, runs, p.Name())
		}
	}
	ch <- prometheus.MustNewConstMetric(workloadsDesc, prometheus.GaugeValue, float64(c.a.resolver.Len()))
	ch <- prometheus.MustNewConstMetric(untrackedDesc, prometheus.CounterValue, float64(c.a.resolver.Dropped()))
	ch <- prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1, version.String(), c.a.hierarchy.Name())
	ch <- prometheus.MustNewConstMetric(exportErrDesc, prometheus.CounterValue, float64(c.a.exportErrors.Load()))
	if missed := c.a.spansMissed.Load(); missed != nil {
		ch <- prometheus.MustNewConstMetric(spansMissedDesc, prometheus.CounterValue, float64((*missed)()))
	}
	c.a.auditMu.Lock()
	defer c.a.auditMu.Unlock()
	for _, t := range c.a.audits {
		ch <- prometheus.MustNewConstMetric(auditMissedDesc, prometheus.CounterValue, float64(t.missed()), t.sink)
	}
	ch <- prometheus.MustNewConstMetric(overheadDesc, prometheus.GaugeValue, c.a.governor.Ratio())
	for name, s := range c.a.governor.samplers() {
		ch <- prometheus.MustNewConstMetric(samplingDesc, prometheus.GaugeValue, 1/float64(s.SampleRate()), name)
	}
	if c.a.podEvents != nil {
		ch <- prometheus.MustNewConstMetric(podEventsDesc, prometheus.CounterValue, float64(c.a.podEvents.Dropped()))
	}
}
