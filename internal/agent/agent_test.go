package agent

import (
	"context"
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
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/cgroups"
	"github.com/orb8/orb8/internal/probes/process"
	"github.com/orb8/orb8/internal/testutil"
)

// kprobeOnly is a probe whose one required hook is a kprobe: on kernels
// without kprobes (this one) it must report down and harm nothing else.
type kprobeOnly struct{ objs *probe.Objects }

func (p *kprobeOnly) Name() string                     { return "kprobe_upgrade" }
func (p *kprobeOnly) Objects() *probe.Objects          { return p.objs }
func (p *kprobeOnly) Describe(chan<- *prometheus.Desc) {}
func (p *kprobeOnly) Collect(chan<- prometheus.Metric) {}
func (p *kprobeOnly) Close() error {
	if p.objs != nil {
		return p.objs.Close()
	}
	return nil
}
func (p *kprobeOnly) Start(context.Context, probe.Env) error {
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{"on_exit": {
		Name: "on_exit", Type: ebpf.Kprobe, SectionName: "kprobe/do_exit", License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	}}}
	objs, err := probe.Load(spec, probe.LoadOptions{Programs: probe.Programs{Required: []string{"on_exit"}}})
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

// scrape fetches /metrics and indexes samples by name and labels.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

func value(families map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func TestExecCountsOverHTTPWithARefusedProbe(t *testing.T) {
	a, srv := startAgent(t, &kprobeOnly{})
	cg := testutil.NewCgroup(t)
	// Nobody watches execs yet: the kernel counts them but sends no event.
	cg.Run(t, "/bin/true")
	if v, _ := value(scrape(t, srv.URL), "orb8_events_total", map[string]string{"probe": "process"}); v != 0 {
		t.Fatalf("orb8_events_total{probe=process} = %v with nobody watching, want 0", v)
	}
	sub := a.Events().Subscribe(1024, []string{events.KindExec, events.KindExit}, nil)
	defer a.Events().Unsubscribe(sub)
	const n = 17
	for range n - 1 {
		cg.Run(t, "/bin/true")
	}
	cg.Run(t, "/bin/sh", "-c", "exit 3")

	var families map[string]*dto.MetricFamily
	testutil.Eventually(t, 3*time.Second, func() bool {
		families = scrape(t, srv.URL)
		v, _ := value(families, "orb8_process_exec_total", map[string]string{"cgroup": cg.Path})
		return v == n+1
	}, "orb8_process_exec_total{cgroup=%q} never reached %d", cg.Path, n+1)
	if v, _ := value(families, "orb8_process_exit_total", map[string]string{"cgroup": cg.Path, "reason": "exit"}); v != n+1 {
		t.Errorf("exits with reason=exit = %v, want %d", v, n+1)
	}
	for probeName, want := range map[string]float64{"process": 1, "cgroup": 1, "kprobe_upgrade": 0} {
		if v, ok := value(families, "orb8_probe_up", map[string]string{"probe": probeName}); !ok || v != want {
			t.Errorf("orb8_probe_up{probe=%q} = %v (present %v), want %v", probeName, v, ok, want)
		}
	}
	// Machine-wide: other processes' events count too, so at least ours; the
	// last records may still be on their way from the ring buffer.
	testutil.Eventually(t, 2*time.Second, func() bool {
		v, _ := value(scrape(t, srv.URL), "orb8_events_total", map[string]string{"probe": "process"})
		return v >= 2*n
	}, "orb8_events_total{probe=process} never reached the %d exec+exit events made while watched", 2*n)
	if v, _ := value(families, "orb8_bpf_program_run_seconds_total", map[string]string{"probe": "process"}); v <= 0 {
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
