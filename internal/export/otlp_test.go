package export_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/export"
	"github.com/orb8/orb8/internal/probes/cgroups"
	"github.com/orb8/orb8/internal/probes/process"
	"github.com/orb8/orb8/internal/testutil"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// podOf names one test cgroup as if it were a pod's container.
type podOf struct{ path string }

func (p podOf) Enrich(w cgroup.Workload) cgroup.Workload {
	if w.Path == p.path {
		w.Namespace, w.Pod, w.Container = "shop", "cart-7d9f", "app"
	}
	return w
}

// startAgent runs the cgroups and process probes in-process.
func startAgent(t *testing.T, cfg agent.Config) *agent.Agent {
	t.Helper()
	testutil.RequireRoot(t)
	cfg.Probes = []string{cgroups.Name, process.Name}
	a, err := agent.New(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	a.Start(context.Background())
	t.Cleanup(func() { a.Close() })
	return a
}

// waitExecs waits until the receiver got orb8_process_exec_total = want for
// cgroup and returns that point; no point for it may ever exceed want.
func waitExecs(t *testing.T, r *receiver, cgroupPath string, want float64) point {
	t.Helper()
	var last point
	testutil.Eventually(t, 10*time.Second, func() bool {
		for _, p := range r.points("orb8_process_exec_total") {
			if p.attrs["cgroup"] != cgroupPath {
				continue
			}
			if p.value > want {
				t.Fatalf("received exec count %v for %s, more than the %v execs made", p.value, cgroupPath, want)
			}
			last = p
		}
		return last.value == want
	}, "OTLP receiver never got orb8_process_exec_total{cgroup=%q} = %v (last %+v)", cgroupPath, want, last)
	return last
}

func TestOTLPPushesExecCountWithKubernetesAttributes(t *testing.T) {
	for _, protocol := range []string{"grpc", "http"} {
		t.Run(protocol, func(t *testing.T) {
			a := startAgent(t, agent.DefaultConfig())
			cg := testutil.NewCgroup(t)
			a.Resolver().SetEnricher(podOf{cg.Path})

			r := &receiver{}
			endpoint := r.Serve(t, protocol)
			o := export.OTLP{Endpoint: endpoint, Protocol: protocol, Interval: 200 * time.Millisecond, Insecure: true, NodeName: "node-a"}
			stop, err := export.StartOTLP(context.Background(), o, a.Gatherer(), quiet)
			if err != nil {
				t.Fatal(err)
			}
			defer stop(context.Background())

			const execs = 23
			for range execs {
				cg.Run(t, "/bin/true")
			}
			got := waitExecs(t, r, cg.Path, execs)

			if v, _ := testutil.Sample(t, a.Gatherer(), "orb8_process_exec_total", map[string]string{"cgroup": cg.Path}); v != execs {
				t.Errorf("/metrics says %v execs, OTLP %v", v, got.value)
			}
			for k, want := range map[string]string{"k8s.namespace.name": "shop", "k8s.pod.name": "cart-7d9f", "k8s.container.name": "app", "cgroup": cg.Path} {
				if got.attrs[k] != want {
					t.Errorf("attribute %s = %q, want %q (all: %v)", k, got.attrs[k], want, got.attrs)
				}
			}
			for _, k := range []string{"namespace", "pod", "container"} {
				if _, ok := got.attrs[k]; ok {
					t.Errorf("Prometheus label %q kept its name in OTLP: %v", k, got.attrs)
				}
			}
			for k, want := range map[string]string{"k8s.node.name": "node-a", "service.name": "orb8"} {
				if got.resource[k] != want {
					t.Errorf("resource %s = %q, want %q (all: %v)", k, got.resource[k], want, got.resource)
				}
			}
		})
	}
}

// TestAgentRunPushesOTLP drives the agent as `orb8 agent --otlp-endpoint`
// does: the flags alone turn the push on.
func TestAgentRunPushesOTLP(t *testing.T) {
	testutil.RequireRoot(t)
	t.Setenv("NODE_NAME", "node-from-env")
	r := &receiver{}
	cfg := agent.DefaultConfig()
	cfg.Probes = []string{cgroups.Name, process.Name}
	cfg.MetricsAddr = freeAddr(t)
	cfg.APIAddrs = []string{testutil.Socket(t)} // another agent on this host may hold the default socket
	cfg.OTLPEndpoint, cfg.OTLPProtocol, cfg.OTLPInterval, cfg.OTLPInsecure = r.ServeGRPC(t), "grpc", 200*time.Millisecond, true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx, cfg, quiet) }()
	// Loading probes parses the kernel's BTF: many seconds on a loaded 2-vCPU machine.
	testutil.Eventually(t, time.Minute, func() bool {
		select {
		case err := <-done:
			t.Fatalf("agent.Run returned early: %v", err)
		default:
		}
		for _, p := range r.points("orb8_probe_up") {
			if p.attrs["probe"] == process.Name && p.value == 1 {
				return true
			}
		}
		return false
	}, "no OTLP push said the process probe is up")
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent.Run: %v", err)
		}
	}()
	cg := testutil.NewCgroup(t)
	const execs = 9
	for range execs {
		cg.Run(t, "/bin/true")
	}
	got := waitExecs(t, r, cg.Path, execs)
	if got.resource["k8s.node.name"] != "node-from-env" {
		t.Errorf("resource k8s.node.name = %q, want $NODE_NAME", got.resource["k8s.node.name"])
	}
}

// pushOTLP pushes g over gRPC every 200 ms, until the test ends, to a
// receiver it returns.
func pushOTLP(t *testing.T, g prometheus.Gatherer) *receiver {
	t.Helper()
	r := &receiver{}
	o := export.OTLP{Endpoint: r.ServeGRPC(t), Protocol: "grpc", Interval: 200 * time.Millisecond, Insecure: true}
	stop, err := export.StartOTLP(context.Background(), o, g, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(context.Background()) })
	return r
}

// freeAddr returns a loopback HOST:PORT nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestOTLPIsShapedLikeMetrics: OTLP carries the series as the agent's
// settings shape them, like /metrics: at pod level one point per pod with
// every exec of its cgroups and no cgroup or container attribute, and no
// point of a disabled family.
func TestOTLPIsShapedLikeMetrics(t *testing.T) {
	cfg := agent.DefaultConfig()
	cfg.Aggregation = "pod"
	cfg.DisableMetrics = []string{"orb8_process_fork_total"}
	a := startAgent(t, cfg)
	cg := testutil.NewCgroup(t)
	a.Resolver().SetEnricher(podOf{cg.Path})
	r := pushOTLP(t, a.Gatherer())
	const execs = 11
	for range execs {
		cg.Run(t, "/bin/true")
	}
	var last point
	testutil.Eventually(t, 10*time.Second, func() bool {
		for _, p := range r.points("orb8_process_exec_total") {
			if p.attrs["k8s.pod.name"] == "cart-7d9f" {
				last = p
			}
		}
		return last.value == execs
	}, "OTLP never got the pod's %d execs (last %+v)", execs, last)
	for _, k := range []string{"cgroup", "k8s.container.name", "container"} {
		if _, ok := last.attrs[k]; ok {
			t.Errorf("pod-level point has attribute %s: %v", k, last.attrs)
		}
	}
	if last.attrs["k8s.namespace.name"] != "shop" {
		t.Errorf("pod-level point: %v", last.attrs)
	}
	if n := len(r.points("orb8_process_fork_total")); n != 0 {
		t.Errorf("%d points of the disabled orb8_process_fork_total", n)
	}
	if len(r.points("orb8_process_exit_total")) == 0 {
		t.Error("no point of orb8_process_exit_total: the test would not see a disabled family's absence")
	}
}
