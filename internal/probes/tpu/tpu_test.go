package tpu

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	podresources "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/orb8/orb8/internal/accelerator"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.Helpers(m, map[string]func([]string) error{"libtpu-workload": libtpuWorkload})
}

// libtpuWorkload is a TPU workload as the probe sees one: in a network
// namespace of its own (the test starts it so), it maps the libtpu.so
// file args[0] names and serves the fake metrics service on the addresses
// args[1:] name (port 8431 of 127.0.0.1 and ::1, or one of them). It says
// "ready" on stdout; on "hang" from stdin it stops serving but keeps a
// listener on 127.0.0.1 that never answers; at the end of stdin it exits.
func libtpuWorkload(args []string) error {
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("loopback up: %v: %s", err, out)
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if _, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_PRIVATE); err != nil {
		return fmt.Errorf("map %s: %w", args[0], err)
	}
	fake, _ := v5eHost()
	var servers []*grpc.Server
	for _, addr := range args[1:] {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		servers = append(servers, serve(nil, fake, l))
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() != "hang" {
			continue
		}
		for _, s := range servers {
			s.Stop()
		}
		l, err := net.Listen("tcp", "127.0.0.1:8431")
		if err != nil {
			return err
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				held = append(held, c)
			}
		}()
		fmt.Println("hanging")
	}
	return nil
}

// held are the connections the hanging workload accepted and never
// answers: kept, or the collector would close them.
var held []net.Conn

// startWorkload starts libtpuWorkload in a new cgroup and network
// namespace, mapping a stand-in libtpu.so.
func startWorkload(t *testing.T, addrs ...string) (*testutil.Cgroup, *testutil.Piped) {
	t.Helper()
	lib := filepath.Join(t.TempDir(), "libtpu", "libtpu.so")
	if err := os.MkdirAll(filepath.Dir(lib), 0o755); err != nil {
		t.Fatal(err)
	}
	// Discovery reads the mapped file's name only: any file stands in.
	if err := os.WriteFile(lib, []byte("\x7fELF stand-in for libtpu"), 0o644); err != nil {
		t.Fatal(err)
	}
	cg := testutil.NewCgroup(t)
	cmd := cg.Helper(t, "libtpu-workload", append([]string{lib}, addrs...)...)
	cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNET
	w := testutil.StartPiped(t, cmd)
	if line, err := w.Stdout.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("libtpu workload: %q, %v", line, err)
	}
	return cg, w
}

// tpuSysfs is a sysfs tree with one TPU v5e chip's PCI function.
func tpuSysfs(t *testing.T) string {
	t.Helper()
	sys := t.TempDir()
	dev := filepath.Join(sys, "bus", "pci", "devices", "0000:00:04.0")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	for file, v := range map[string]string{"vendor": "0x1ae0\n", "device": "0x0063\n"} {
		if err := os.WriteFile(filepath.Join(dev, file), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return sys
}

type fakeKubelet struct {
	podresources.UnimplementedPodResourcesListerServer
	resp *podresources.ListPodResourcesResponse
}

func (f *fakeKubelet) List(context.Context, *podresources.ListPodResourcesRequest) (*podresources.ListPodResourcesResponse, error) {
	return f.resp, nil
}

// serveKubelet serves a pod holding four TPU chips and returns the socket.
func serveKubelet(t *testing.T) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "kubelet.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	podresources.RegisterPodResourcesListerServer(srv, &fakeKubelet{resp: &podresources.ListPodResourcesResponse{PodResources: []*podresources.PodResources{{
		Namespace: "ml", Name: "jax", Containers: []*podresources.ContainerResources{{
			Name: "train", Devices: []*podresources.ContainerDevices{{ResourceName: "google.com/tpu", DeviceIds: []string{"0", "1"}}},
		}},
	}}}})
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return socket
}

func startProbe(t *testing.T, socket, sys string) (*Probe, *prometheus.Registry) {
	t.Helper()
	res := testutil.Resolver(t)
	opts := DefaultOptions()
	opts.Interval, opts.Timeout = time.Second, 500*time.Millisecond
	p := newProbe(opts, socket, "/proc", sys)
	env := probe.Env{Resolver: res, Events: events.NewBus(), Log: slog.Default(), CgroupRoot: res.Root()}
	if err := p.Start(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(testutil.Collector(t, p), accelerator.CollectorOf(p))
	return p, reg
}

// workloadSeries lists the accelerator series of a cgroup: family ->
// device -> value, failing on any series without vendor="google".
func workloadSeries(t *testing.T, g prometheus.Gatherer, cgroupPath string) map[string]map[string]float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "orb8_workload_accelerator_") {
			continue
		}
		for _, m := range f.GetMetric() {
			l := labels(m)
			if l["cgroup"] != cgroupPath {
				continue
			}
			if l["vendor"] != "google" {
				t.Fatalf("%s %v: vendor is not google", f.GetName(), l)
			}
			if out[f.GetName()] == nil {
				out[f.GetName()] = map[string]float64{}
			}
			out[f.GetName()][l["device"]] = m.GetGauge().GetValue()
		}
	}
	return out
}

func labels(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

func errorCount(t *testing.T, g prometheus.Gatherer, reason string) float64 {
	v, _ := testutil.Sample(t, g, "orb8_tpu_poll_errors_total", map[string]string{"reason": reason})
	return v
}

// A TPU workload in its own cgroup and network namespace: the probe finds
// its metrics service, polls it there, and exports exactly the gauges it
// serves, as the workload's; a service that stops answering loses its
// series and counts the failure; an exited workload is no endpoint.
func TestFakeLibtpuWorkload(t *testing.T) {
	testutil.RequireRoot(t)
	cg, w := startWorkload(t, "127.0.0.1:8431", "[::1]:8431")
	_, reg := startProbe(t, serveKubelet(t), tpuSysfs(t))
	want := WantedFromFake()

	var got map[string]map[string]float64
	testutil.Eventually(t, 10*time.Second, func() bool {
		got = workloadSeries(t, reg, cg.Path)
		return len(got) == len(want)
	}, "series of %s: %v, want %v", cg.Path, lazyMap(&got), want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("series of %s:\n got %v\nwant %v", cg.Path, got, want)
	}
	if v, _ := testutil.Sample(t, reg, "orb8_workload_accelerator_runtime_gauge", map[string]string{"cgroup": cg.Path, "device": "0"}); v != 1 {
		t.Fatalf("runtime gauge = %v", v)
	}
	if _, ok := testutil.Sample(t, reg, "orb8_workload_accelerator_runtime_gauge", map[string]string{"cgroup": cg.Path, "metric": "tpu.runtime.custom.ready"}); !ok {
		t.Fatalf("runtime gauge without its libtpu name: %s", testutil.Series(t, reg, "orb8_workload_accelerator_runtime_gauge"))
	}
	if v, _ := testutil.Sample(t, reg, "orb8_tpu_endpoints", nil); v != 1 {
		t.Fatalf("orb8_tpu_endpoints = %v, want 1", v)
	}
	for _, dev := range []string{"0", "1"} {
		if v, ok := testutil.Sample(t, reg, "orb8_pod_accelerator_allocated", map[string]string{
			"namespace": "ml", "pod": "jax", "container": "train", "vendor": "google", "device": dev,
		}); !ok || v != 1 {
			t.Fatalf("pod allocation of chip %s: %v %v", dev, v, ok)
		}
	}
	for _, r := range reasons {
		if v := errorCount(t, reg, r); v != 0 {
			t.Fatalf("orb8_tpu_poll_errors_total{reason=%q} = %v against a well-formed service", r, v)
		}
	}

	fmt.Fprintln(w.Stdin, "hang")
	if line, err := w.Stdout.ReadString('\n'); err != nil || line != "hanging\n" {
		t.Fatalf("libtpu workload: %q, %v", line, err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		got = workloadSeries(t, reg, cg.Path)
		return len(got) == 0 && errorCount(t, reg, reasonTimeout) > 0
	}, "a service that stopped answering: series %v, timeouts %v", lazyMap(&got), errorCount(t, reg, reasonTimeout))

	w.Stdin.Close()
	w.Cmd.Wait()
	testutil.Eventually(t, 10*time.Second, func() bool {
		v, _ := testutil.Sample(t, reg, "orb8_tpu_endpoints", nil)
		return v == 0
	}, "the exited workload is still polled")
}

// A workload whose service listens on ::1 only is reached there.
func TestFakeLibtpuWorkloadIPv6(t *testing.T) {
	testutil.RequireRoot(t)
	cg, _ := startWorkload(t, "[::1]:8431")
	_, reg := startProbe(t, "", tpuSysfs(t))
	testutil.Eventually(t, 10*time.Second, func() bool {
		v, _ := testutil.Sample(t, reg, "orb8_workload_accelerator_memory_used_bytes", map[string]string{"cgroup": cg.Path, "device": "1"})
		return v == 2*gib
	}, "no HBM series from the service on [::1]: %s", testutil.Series(t, reg, "orb8_workload_accelerator_memory_used_bytes"))
}

type lazyMapT struct {
	m *map[string]map[string]float64
}

func (l lazyMapT) String() string { return fmt.Sprint(*l.m) }

func lazyMap(m *map[string]map[string]float64) fmt.Stringer { return lazyMapT{m} }

// Without a TPU the probe does not start: the agent reports it down.
func TestNoTPUNoStart(t *testing.T) {
	p := newProbe(DefaultOptions(), "", "/proc", t.TempDir())
	err := p.Start(context.Background(), probe.Env{Log: slog.Default()})
	if err == nil {
		t.Fatal("started without a TPU")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("close of an unstarted probe: %v", err)
	}
}
