// Package agent is the node daemon: it runs the enabled probes, resolves
// cgroups to workloads, and serves /metrics, /healthz and /readyz.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/accelerator"
	"github.com/orb8/orb8/internal/access"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/exemap"
	"github.com/orb8/orb8/internal/export"
	"github.com/orb8/orb8/internal/kube"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/server"
	"github.com/orb8/orb8/internal/tick"
)

// maxWorkloads bounds the resolver's table, like ORB8_MAX_CGROUPS bounds the kernel's.
const maxWorkloads = 65536

// ProbeStatus says whether a probe runs and, if not, why.
type ProbeStatus struct {
	Name  string `json:"name"`
	Up    bool   `json:"up"`
	Error string `json:"error,omitempty"`
	// Degraded lists what the probe runs without, with the reason: optional
	// programs that did not load, and features a kernel setting keeps off.
	Degraded map[string]string `json:"degraded,omitempty"`
}

type runningProbe struct {
	probe.Probe
	status ProbeStatus
	// tried is set once Start returned; status and the probe's state are
	// read by scrapes only after it, so a scrape during start sees nothing.
	tried atomic.Bool
	// collectErrors counts collections that failed; the first is logged.
	collectErrors atomic.Uint64
	log           *slog.Logger
}

// running reports whether the probe started and runs.
func (p *runningProbe) running() bool { return p.tried.Load() && p.status.Up }

// Collect exports the probe's series once it runs, and counts a failure:
// the first is logged, later ones only counted, so a map that cannot be
// read does not flood the log at every scrape.
func (p *runningProbe) Collect(ch chan<- prometheus.Metric) {
	if !p.running() {
		return
	}
	if err := p.Probe.Collect(ch); err != nil && p.collectErrors.Add(1) == 1 {
		p.log.Warn("probe collection failed; later failures are counted in orb8_probe_collect_errors_total", "probe", p.Name(), "err", err)
	}
}

// acceleratorExporters are the running probes that export series of the
// shared accelerator families.
func (a *Agent) acceleratorExporters() []accelerator.Exporter {
	var out []accelerator.Exporter
	for _, p := range a.probes {
		if e, ok := p.Probe.(accelerator.Exporter); ok && p.running() {
			out = append(out, e)
		}
	}
	return out
}

// Agent runs probes and exports what they aggregate.
type Agent struct {
	cfg      config.Config
	log      *slog.Logger
	resolver *cgroup.Resolver
	// hierarchy is where workload cgroups come from: the resolver reads its
	// Root, cgroup_skb and sockops programs attach to its Unified mount.
	hierarchy cgroup.Hierarchy
	bus       *events.Bus
	probes    []*runningProbe
	// registry holds every collector as it is (collectors), for the API.
	registry   *prometheus.Registry
	collectors []prometheus.Collector
	// shaper makes what leaves the agent (/metrics, OTLP) of the
	// collectors: exported, registered in exportRegistry.
	shaper         *series.Shaper
	exportRegistry *prometheus.Registry
	exported       []prometheus.Collector
	gatherer       *export.SeriesCap // exportRegistry under the per-metric series cap
	stats          io.Closer
	kube           *kube.Watcher // nil when the agent runs without Kubernetes
	// kubePolicies and podEvents: with --kube-policies, else nil.
	kubePolicies *kube.PolicyWatcher
	podEvents    *kube.PodEventRecorder
	// decider authenticates and authorizes API and /metrics callers, with
	// the Kubernetes API when there is one.
	decider *access.Decider
	// exportErrors counts failed OTLP pushes (orb8_export_errors_total).
	exportErrors atomic.Uint64
	// spansMissed, once spans go over OTLP, is the spans of requests that
	// did not reach the receiver (orb8_spans_missed_total).
	spansMissed atomic.Pointer[func() uint64]
	ready       atomic.Bool
	// trailed: an API keeps an audit trail, which must see every new peer.
	trailed atomic.Bool
	// stopForget ends the loop that forgets removed cgroups; nil before Start.
	stopForget func()
	// governor keeps the agent under --max-overhead.
	governor *governor
	// audits are the audit sinks' accounts: --audit-log's and OTLP's.
	auditMu sync.Mutex
	audits  []*auditTrail
	// profiles: with --anomaly-detection, else nil.
	profiles *profiler
}

// New builds an agent for cfg with the probes it enables.
func New(cfg Config, log *slog.Logger) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	hierarchy, err := cgroup.FindHierarchy(cfg.CgroupHierarchy)
	if err != nil {
		return nil, err
	}
	if cfg.CgroupRoot != "" {
		if !hierarchy.V1 {
			hierarchy.Unified = cfg.CgroupRoot
		}
		hierarchy.Root = cfg.CgroupRoot
	}
	resolver, err := cgroup.NewResolver(hierarchy.Root, maxWorkloads)
	if err != nil {
		return nil, err
	}
	if cfg.AnomalyDetection {
		if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
			resolver.Close()
			return nil, fmt.Errorf("--state-dir: %w", err)
		}
	}
	k, err := newKube(cfg.Config, log)
	if err != nil {
		resolver.Close()
		return nil, err
	}
	a := NewWithProbes(cfg.Config, log, resolver, buildProbes(enabledProbes(&cfg), resolver, &cfg))
	a.hierarchy = hierarchy
	a.useKube(k)
	return a, nil
}

// NewWithProbes builds an agent around an existing resolver and probe set,
// the probes built with their options.
func NewWithProbes(cfg config.Config, log *slog.Logger, resolver *cgroup.Resolver, probes []probe.Probe) *Agent {
	a := &Agent{cfg: cfg, log: log, resolver: resolver, bus: events.NewBus(), registry: prometheus.NewRegistry(),
		exportRegistry: prometheus.NewRegistry(),
		shaper:         series.NewShaper(cfg.Shaping(), nil, cfg.GoneGrace),
		decider:        access.NewDecider(nil, cfg.NodeName),
		hierarchy:      cgroup.Hierarchy{Root: resolver.Root(), Unified: resolver.Root()}}
	for _, p := range probes {
		a.probes = append(a.probes, &runningProbe{Probe: p, status: ProbeStatus{Name: p.Name()}, log: log})
	}
	a.gatherer = export.NewSeriesCap(a.exportRegistry, cfg.MaxSeriesPerMetric)
	a.governor = newGovernor(a)
	a.register(newSelfCollector(a))
	a.register(collectors.NewGoCollector())
	a.register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, p := range a.probes {
		a.register(p)
	}
	a.register(accelerator.Collector{Running: a.acceleratorExporters})
	if a.profiles = newProfiler(a); a.profiles != nil {
		a.register(a.profiles.counter)
	}
	return a
}

// register adds c to the registry, and c as shaped to what /metrics and
// OTLP collect.
func (a *Agent) register(c prometheus.Collector) {
	a.registry.MustRegister(c)
	a.collectors = append(a.collectors, c)
	shaped := a.shaper.Wrap(c)
	a.exportRegistry.MustRegister(shaped)
	a.exported = append(a.exported, shaped)
}

// Start starts every probe; a probe that fails is reported down and the rest
// run. The agent is ready once every probe has been tried.
func (a *Agent) Start(ctx context.Context) {
	if err := rlimit.RemoveMemlock(); err != nil {
		a.log.Debug("memlock limit unchanged", "err", err)
	}
	if a.cfg.BPFStats {
		if c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err != nil {
			a.log.Warn("BPF run time statistics unavailable", "err", err)
		} else {
			a.stats = c
		}
	}
	a.startKube(ctx)
	probe.UseCgroupV1(a.hierarchy.V1)
	env := probe.Env{Resolver: a.resolver, Events: a.bus, Log: a.log, CgroupRoot: a.hierarchy.Unified, MaxOverhead: a.cfg.MaxOverhead}
	for _, p := range a.probes {
		if err := p.Start(ctx, env); err != nil {
			p.status.Error = err.Error()
			p.tried.Store(true)
			a.log.Warn("probe down", "probe", p.Name(), "err", err)
			continue
		}
		p.status.Up = true
		p.status.Degraded = degraded(p.Probe)
		p.tried.Store(true)
		a.log.Info("probe up", "probe", p.Name(), "degraded", len(p.status.Degraded))
	}
	a.stopForget = tick.Every(ctx, max(a.cfg.GoneGrace/10, time.Second), a.forgetGone)
	a.governor.start(ctx)
	if err := a.startAudit(ctx); err != nil {
		a.log.Error("audit records not written", "err", err)
	}
	a.startTraces(ctx)
	if err := a.startPolicies(ctx); err != nil {
		a.log.Error("policies not enforced", "err", err)
	}
	if a.profiles != nil || a.trailed.Load() {
		a.learnPeers()
	}
	if a.profiles != nil {
		if err := a.profiles.start(ctx); err != nil {
			a.log.Error("anomaly detection off", "err", err)
		}
	}
	// Loading the probes (kernel BTF, ELF objects) is the heap's peak, never
	// reached again: give its pages back now rather than keep them resident.
	// So is the share of the executable that starting touched.
	debug.FreeOSMemory()
	switch n, err := exemap.Release(); {
	case errors.Is(err, exemap.ErrUnsupported):
		a.log.Info("the executable's start-up pages stay resident", "err", err)
	case err != nil:
		a.log.Warn("page out the executable's start-up pages", "err", err)
	case n == 0:
		a.log.Info("the executable's start-up pages stay resident: no read-only mapping of it found")
	default:
		a.log.Debug("paged out the executable's read-only mappings", "span_bytes", n)
	}
	a.ready.Store(true)
}

// degraded lists what a started probe runs without: its refused programs
// and what it reports as a Degrader; nil when nothing.
func degraded(p probe.Probe) map[string]string {
	out := map[string]string{}
	if objs := p.Objects(); objs != nil {
		for prog, err := range objs.Failed {
			out[prog] = err.Error()
		}
	}
	if d, ok := p.(probe.Degrader); ok {
		for feature, err := range d.Degraded() {
			out[feature] = err.Error()
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// forgetGone drops state of cgroups removed longer than the grace period ago.
func (a *Agent) forgetGone(now time.Time) {
	deadline := now.Add(-a.cfg.GoneGrace)
	if a.resolver.Due(deadline) {
		// Aggregates take their last counts before the series go.
		a.shaper.Settle()
	}
	gone := a.resolver.Forget(deadline)
	if len(gone) == 0 {
		return
	}
	for _, p := range a.probes {
		if !p.running() {
			continue
		}
		if objs := p.Objects(); objs != nil {
			if err := objs.Forget(gone); err != nil {
				a.log.Warn("forget removed cgroups", "probe", p.Name(), "err", err)
			}
		}
		if f, ok := p.Probe.(probe.Forgetter); ok {
			f.Forget(gone)
		}
	}
	if a.profiles != nil {
		a.profiles.counter.Forget(gone)
	}
}

// Status lists every probe that has been tried, with whether it runs: a
// probe whose ring buffer reader stopped is down, with the reason.
func (a *Agent) Status() []ProbeStatus {
	var out []ProbeStatus
	for _, p := range a.probes {
		if p.tried.Load() {
			out = append(out, p.current())
		}
	}
	return out
}

// current is the probe's status now.
func (p *runningProbe) current() ProbeStatus {
	s := p.status
	if s.Up {
		// A Degrader's answer may change while it runs (bad policy files).
		s.Degraded = degraded(p.Probe)
	}
	if objs := p.Objects(); s.Up && objs != nil {
		if err := objs.Stopped(); err != nil {
			s.Up, s.Error = false, err.Error()
		}
	}
	return s
}

// Events is the agent's event bus.
func (a *Agent) Events() *events.Bus { return a.bus }

// Resolver is the agent's cgroup resolver.
func (a *Agent) Resolver() *cgroup.Resolver { return a.resolver }

// Registry holds every collector of the agent, every series as collected.
func (a *Agent) Registry() *prometheus.Registry { return a.registry }

// Collectors are the registry's collectors, for what shapes them itself.
func (a *Agent) Collectors() []prometheus.Collector { return a.collectors }

// Gatherer is what the agent exports: its series as shaped, under the
// series cap.
func (a *Agent) Gatherer() prometheus.Gatherer { return a.gatherer }

// Handler serves /metrics, /healthz and /readyz, and nothing else: the
// API, which names processes, DNS names and peers, is on its own listeners.
// With --metrics-auth kubernetes, /metrics needs a bearer token allowed to
// get the non-resource URL /metrics.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	var metrics http.Handler = export.MetricsHandler(func() []prometheus.Collector { return a.exported }, a.gatherer, a.cfg.ClusterName)
	if a.cfg.MetricsAuth == "kubernetes" {
		metrics = server.RequireToken(a.decider, access.Metrics, metrics)
	}
	mux.Handle("/metrics", metrics)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "probes not attached yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// Close detaches every probe and releases the agent's resources.
func (a *Agent) Close() error {
	a.ready.Store(false)
	if a.stopForget != nil {
		a.stopForget()
	}
	if a.profiles != nil {
		a.profiles.close()
	}
	var errs []error
	for _, p := range a.probes {
		errs = append(errs, p.Close())
	}
	if a.stats != nil {
		errs = append(errs, a.stats.Close())
	}
	errs = append(errs, a.closeKube(), a.resolver.Close())
	return errors.Join(errs...)
}

// Run runs the agent and its HTTP endpoints until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	a, err := New(cfg, log)
	if err != nil {
		return err
	}
	stopOTLP, err := a.startOTLP(ctx)
	if err != nil {
		a.Close()
		return err
	}
	apiSrv, err := a.ListenAPI(cfg.APIAddrs...)
	if err != nil {
		_ = stopOTLP(context.Background())
		a.Close()
		return err
	}
	a.register(apiCollector{apiSrv})
	srv, err := server.Listen(cfg.MetricsAddr, a.Handler(), server.TLSFiles{Cert: cfg.TLSCert, Key: cfg.TLSKey, ClientCA: cfg.TLSClientCA})
	if err != nil {
		apiSrv.Close()
		_ = stopOTLP(context.Background())
		a.Close()
		return err
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve() }()
	go func() { serveErr <- apiSrv.Serve() }()
	a.Start(ctx)
	log.Info("agent running", "metrics", srv.Addr().String(), "api", apiSrv.Addrs(), "cgroups", a.hierarchy.Name(), "cgroup_root", a.resolver.Root())
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	apiSrv.Close()
	_ = srv.Shutdown(shutdownCtx)
	return errors.Join(err, stopOTLP(shutdownCtx), a.Close())
}

// startOTLP pushes the agent's series over OTLP when an endpoint is set; the
// returned stop (never nil) pushes a last time.
func (a *Agent) startOTLP(ctx context.Context) (stop func(context.Context) error, err error) {
	if a.cfg.OTLPEndpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	return export.StartOTLP(ctx, a.otlp(), a.gatherer, a.log)
}

// otlp is where and how the agent pushes OTLP.
func (a *Agent) otlp() export.OTLP {
	return export.OTLP{Endpoint: a.cfg.OTLPEndpoint, Protocol: a.cfg.OTLPProtocol, Interval: a.cfg.OTLPInterval, Insecure: a.cfg.OTLPInsecure,
		NodeName: a.cfg.NodeName, ClusterName: a.cfg.ClusterName, Errors: &a.exportErrors}
}
