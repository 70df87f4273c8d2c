package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/cgroups"
	"github.com/orb8/orb8/internal/probes/process"
	"github.com/orb8/orb8/internal/testutil"
)

// programsOnly is the part of a test probe that loads programs (its Start)
// and exports no series of its own.
type programsOnly struct{ objs *probe.Objects }

func (p *programsOnly) Objects() *probe.Objects                { return p.objs }
func (p *programsOnly) Describe(chan<- *prometheus.Desc)       {}
func (p *programsOnly) Collect(chan<- prometheus.Metric) error { return nil }
func (p *programsOnly) Close() error {
	if p.objs != nil {
		return p.objs.Close()
	}
	return nil
}

// kprobeOnly is a probe whose one required hook is a kprobe: on kernels
// without kprobes (this one) it must report down and harm nothing else.
type kprobeOnly struct{ programsOnly }

func (p *kprobeOnly) Name() string { return "kprobe_upgrade" }
func (p *kprobeOnly) Start(context.Context, probe.Env) error {
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{"on_exit": {
		Name: "on_exit", Type: ebpf.Kprobe, SectionName: "kprobe/do_exit", License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	}}}
	objs, err := probe.Load(spec, nil, probe.LoadOptions{Programs: probe.Programs{Required: []string{"on_exit"}}})
	p.objs = objs
	return err
}

func startAgent(t *testing.T, extra ...probe.Probe) (*Agent, *httptest.Server) {
	t.Helper()
	testutil.RequireRoot(t)
	root, err := cgroup.FindMount()
	if err != nil {
		t.Fatal(err)
	}
	res, err := cgroup.NewResolver(root, maxWorkloads)
	if err != nil {
		t.Fatal(err)
	}
	probes := append([]probe.Probe{cgroups.New(res), process.New()}, extra...)
	cfg := config.Default()
	cfg.BPFStats = true // orb8_bpf_program_run_seconds_total is checked
	a := NewWithProbes(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), res, probes)
	srv := httptest.NewServer(a.Handler())
	a.Start(context.Background())
	t.Cleanup(func() {
		srv.Close()
		if err := a.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return a, srv
}

// scrape fetches /metrics, for testutil.Sample.
func scrape(t *testing.T, url string) prometheus.Gatherer {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	return testutil.Text(t, resp.Body)
}

func TestExecCountsOverHTTPWithARefusedProbe(t *testing.T) {
	a, srv := startAgent(t, &kprobeOnly{})
	cg := testutil.NewCgroup(t)
	// Nobody watches execs yet: the kernel counts them but sends no event.
	cg.Run(t, "/bin/true")
	if v, _ := testutil.Sample(t, scrape(t, srv.URL), "orb8_events_total", map[string]string{"probe": "process"}); v != 0 {
		t.Fatalf("orb8_events_total{probe=process} = %v with nobody watching, want 0", v)
	}
	sub := a.Events().Subscribe(1024, []string{events.KindExec, events.KindExit}, nil)
	defer a.Events().Unsubscribe(sub)
	const n = 17
	for range n - 1 {
		cg.Run(t, "/bin/true")
	}
	cg.Run(t, "/bin/sh", "-c", "exit 3")

	var families prometheus.Gatherer
	testutil.Eventually(t, 3*time.Second, func() bool {
		families = scrape(t, srv.URL)
		v, _ := testutil.Sample(t, families, "orb8_process_exec_total", map[string]string{"cgroup": cg.Path})
		return v == n+1
	}, "orb8_process_exec_total{cgroup=%q} never reached %d", cg.Path, n+1)
	if v, _ := testutil.Sample(t, families, "orb8_process_exit_total", map[string]string{"cgroup": cg.Path, "reason": "exit"}); v != n+1 {
		t.Errorf("exits with reason=exit = %v, want %d", v, n+1)
	}
	for probeName, want := range map[string]float64{"process": 1, "cgroup": 1, "kprobe_upgrade": 0} {
		if v, ok := testutil.Sample(t, families, "orb8_probe_up", map[string]string{"probe": probeName}); !ok || v != want {
			t.Errorf("orb8_probe_up{probe=%q} = %v (present %v), want %v", probeName, v, ok, want)
		}
	}
	// Machine-wide: other processes' events count too, so at least ours; the
	// last records may still be on their way from the ring buffer.
	testutil.Eventually(t, 2*time.Second, func() bool {
		v, _ := testutil.Sample(t, scrape(t, srv.URL), "orb8_events_total", map[string]string{"probe": "process"})
		return v >= 2*n
	}, "orb8_events_total{probe=process} never reached the %d exec+exit events made while watched", 2*n)
	if v, _ := testutil.Sample(t, families, "orb8_bpf_program_run_seconds_total", map[string]string{"probe": "process"}); v <= 0 {
		t.Errorf("orb8_bpf_program_run_seconds_total{probe=process} = %v, want > 0", v)
	}
	for _, st := range a.Status() {
		if st.Name == "kprobe_upgrade" && (st.Up || st.Error == "") {
			t.Errorf("status of the refused probe: %+v", st)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", path, resp.Status)
		}
	}
}

func TestRemovedCgroupSeriesGoAfterGrace(t *testing.T) {
	testutil.RequireRoot(t)
	root, err := cgroup.FindMount()
	if err != nil {
		t.Fatal(err)
	}
	res, err := cgroup.NewResolver(root, maxWorkloads)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.GoneGrace = time.Second
	a := NewWithProbes(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), res, []probe.Probe{cgroups.New(res), process.New()})
	a.Start(context.Background())
	defer a.Close()

	cg := testutil.NewCgroup(t)
	cg.Run(t, "/bin/true")
	series := func() bool {
		_, ok := testutil.Sample(t, a.Registry(), "orb8_process_exec_total", map[string]string{"cgroup": cg.Path})
		return ok
	}
	testutil.Eventually(t, 3*time.Second, series, "series of %s never appeared", cg.Path)
	if err := removeDir(cg.Dir); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return !series() }, "series of removed %s still exported", cg.Path)
}

func TestReadyzBeforeStart(t *testing.T) {
	a := &Agent{}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "not attached") {
		t.Fatalf("/readyz before start: %d %q", rec.Code, rec.Body.String())
	}
}

// bpfFDs counts this process's open BPF programs, maps and links.
func bpfFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(target, "anon_inode:bpf") {
			n++
		}
	}
	return n
}

func TestCloseDetachesEverything(t *testing.T) {
	testutil.RequireRoot(t)
	before := bpfFDs(t)
	root, err := cgroup.FindMount()
	if err != nil {
		t.Fatal(err)
	}
	res, err := cgroup.NewResolver(root, maxWorkloads)
	if err != nil {
		t.Fatal(err)
	}
	a := NewWithProbes(config.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)), res, []probe.Probe{cgroups.New(res), process.New()})
	a.Start(context.Background())
	if running := bpfFDs(t); running <= before {
		t.Fatalf("%d BPF fds while running, %d before: probes did not load", running, before)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if after := bpfFDs(t); after != before {
		t.Fatalf("%d BPF fds after Close, %d before: something stayed attached", after, before)
	}
}

// brokenCollect is a probe whose state cannot be read at scrape time.
type brokenCollect struct{}

func (brokenCollect) Name() string                           { return "broken_collect" }
func (brokenCollect) Objects() *probe.Objects                { return nil }
func (brokenCollect) Describe(chan<- *prometheus.Desc)       {}
func (brokenCollect) Start(context.Context, probe.Env) error { return nil }
func (brokenCollect) Close() error                           { return nil }
func (brokenCollect) Collect(chan<- prometheus.Metric) error {
	return errors.New("read stats: bad file descriptor")
}

// A probe that cannot read its state is counted per scrape and logged once.
func TestCollectFailuresAreCountedAndLoggedOnce(t *testing.T) {
	var log testutil.Buffer
	a := NewWithProbes(config.Default(), slog.New(slog.NewTextHandler(&log, nil)), testutil.Resolver(t), []probe.Probe{brokenCollect{}})
	a.Start(context.Background())
	defer a.Close()
	for range 3 {
		if _, err := a.Registry().Gather(); err != nil {
			t.Fatal(err)
		}
	}
	// The fourth gather reads the counter before or after its own collection.
	if v, ok := testutil.Sample(t, a.Registry(), "orb8_probe_collect_errors_total", map[string]string{"probe": "broken_collect"}); !ok || v < 3 || v > 4 {
		t.Errorf("orb8_probe_collect_errors_total = %v (found %v), want 3 or 4", v, ok)
	}
	if n := strings.Count(log.String(), "probe collection failed"); n != 1 || !strings.Contains(log.String(), "bad file descriptor") {
		t.Errorf("%d failures logged, want 1 with the error:\n%s", n, log.String())
	}
}
