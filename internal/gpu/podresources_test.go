package gpu

import (
	"context"
	"net"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	podresources "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/orb8/orb8/internal/accelerator"
	"github.com/orb8/orb8/internal/testutil"
)

// fakeKubelet serves List on a unix socket like the kubelet does.
type fakeKubelet struct {
	podresources.UnimplementedPodResourcesListerServer
	resp *podresources.ListPodResourcesResponse
}

func (f *fakeKubelet) List(context.Context, *podresources.ListPodResourcesRequest) (*podresources.ListPodResourcesResponse, error) {
	return f.resp, nil
}

// ServeFakeKubelet serves resp on a new socket and returns its path.
func serveFakeKubelet(t *testing.T, resp *podresources.ListPodResourcesResponse) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "kubelet.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	podresources.RegisterPodResourcesListerServer(srv, &fakeKubelet{resp: resp})
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return socket
}

func container(name string, devices ...*podresources.ContainerDevices) *podresources.ContainerResources {
	return &podresources.ContainerResources{Name: name, Devices: devices}
}

func devices(resource string, ids ...string) *podresources.ContainerDevices {
	return &podresources.ContainerDevices{ResourceName: resource, DeviceIds: ids}
}

func TestGPUAllocationsFromKubelet(t *testing.T) {
	socket := serveFakeKubelet(t, &podresources.ListPodResourcesResponse{PodResources: []*podresources.PodResources{
		{Namespace: "ml", Name: "trainer", Containers: []*podresources.ContainerResources{
			container("main", devices("nvidia.com/gpu", "GPU-aaa", "GPU-bbb"), devices("example.com/fpga", "fpga0")),
			container("sidecar"),
		}},
		{Namespace: "ml", Name: "notebook", Containers: []*podresources.ContainerResources{
			container("jupyter", devices("nvidia.com/gpu", "GPU-ccc::2")),
		}},
		{Namespace: "ml", Name: "mig", Containers: []*podresources.ContainerResources{
			container("infer", devices("nvidia.com/mig-1g.10gb", "MIG-ddd")),
		}},
		{Namespace: "web", Name: "frontend", Containers: []*podresources.ContainerResources{container("nginx")}},
	}})
	p := NewPodResources(socket)
	defer p.Close()
	got, err := p.GPUAllocations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Allocation{
		{Namespace: "ml", Pod: "trainer", Container: "main", Resource: "nvidia.com/gpu", Devices: []string{"GPU-aaa", "GPU-bbb"}},
		{Namespace: "ml", Pod: "notebook", Container: "jupyter", Resource: "nvidia.com/gpu", Devices: []string{"GPU-ccc"}},
		{Namespace: "ml", Pod: "mig", Container: "infer", Resource: "nvidia.com/mig-1g.10gb", Devices: []string{"MIG-ddd"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("allocations\n got %+v\nwant %+v", got, want)
	}
}

func TestTPUAllocationsFromKubelet(t *testing.T) {
	socket := serveFakeKubelet(t, &podresources.ListPodResourcesResponse{PodResources: []*podresources.PodResources{
		{Namespace: "ml", Name: "jax", Containers: []*podresources.ContainerResources{
			container("train", devices("google.com/tpu", "0", "1", "2", "3"), devices("nvidia.com/gpu", "GPU-aaa")),
		}},
		{Namespace: "ml", Name: "cpu-only", Containers: []*podresources.ContainerResources{container("main", devices("google.com/tpu"))}},
	}})
	p := NewPodResources(socket)
	defer p.Close()
	got, err := p.TPUAllocations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Allocation{{Namespace: "ml", Pod: "jax", Container: "train", Resource: "google.com/tpu", Devices: []string{"0", "1", "2", "3"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("allocations\n got %+v\nwant %+v", got, want)
	}
}

func TestNoSocketIsNoAllocation(t *testing.T) {
	p := NewPodResources(filepath.Join(t.TempDir(), "absent.sock"))
	got, err := p.GPUAllocations(context.Background())
	if err != nil || got != nil {
		t.Fatalf("absent socket: %v, %v; want no allocations and no error", got, err)
	}
}

func TestDeadSocketIsAnError(t *testing.T) {
	socket := serveFakeKubelet(t, &podresources.ListPodResourcesResponse{})
	p := NewPodResources(socket)
	defer p.Close()
	if _, err := p.GPUAllocations(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A socket file nobody serves: the kubelet is down.
	dead := filepath.Join(t.TempDir(), "dead.sock")
	l, err := net.Listen("unix", dead)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	q := NewPodResources(dead)
	defer q.Close()
	if _, err := q.GPUAllocations(context.Background()); err == nil {
		t.Fatal("a socket nobody serves gave no error")
	}
}

func TestImbalance(t *testing.T) {
	for _, tc := range []struct {
		utils []float64
		want  float64
	}{
		{nil, 0},
		{[]float64{0.9}, 0},
		{[]float64{0.8, 0.8}, 0},
		{[]float64{0, 0}, 0},
		{[]float64{1, 0}, 1},
		{[]float64{1, 0.25, 0.5}, 0.75},
	} {
		if got := Imbalance(tc.utils); got != tc.want {
			t.Errorf("Imbalance(%v) = %v, want %v", tc.utils, got, tc.want)
		}
	}
}

// One pod-resources response with every vendor's devices: each vendor's
// resources come back alone, and nothing of another vendor's.
func TestAllocationsOfEveryVendor(t *testing.T) {
	socket := serveFakeKubelet(t, &podresources.ListPodResourcesResponse{PodResources: []*podresources.PodResources{
		{Namespace: "ml", Name: "rocm", Containers: []*podresources.ContainerResources{
			container("train", devices(AMDGPUResource, "0000:c1:00.0", "0000:c2:00.0"), devices("nvidia.com/gpu", "GPU-aaa")),
		}},
		{Namespace: "ml", Name: "trn", Containers: []*podresources.ContainerResources{
			container("train", devices(NeuronDeviceResource, "3")),
			container("infer", devices(NeuronCoreResource, "4", "5")),
		}},
		{Namespace: "ml", Name: "jax", Containers: []*podresources.ContainerResources{container("main", devices(TPUResource, "0"))}},
	}})
	p := NewPodResources(socket)
	defer p.Close()
	for _, tc := range []struct {
		resources []string
		want      []Allocation
	}{
		{[]string{AMDGPUResource}, []Allocation{{Namespace: "ml", Pod: "rocm", Container: "train", Resource: AMDGPUResource, Devices: []string{"0000:c1:00.0", "0000:c2:00.0"}}}},
		{[]string{NeuronDeviceResource, NeuronCoreResource}, []Allocation{
			{Namespace: "ml", Pod: "trn", Container: "train", Resource: NeuronDeviceResource, Devices: []string{"3"}},
			{Namespace: "ml", Pod: "trn", Container: "infer", Resource: NeuronCoreResource, Devices: []string{"4", "5"}},
		}},
		{[]string{TPUResource}, []Allocation{{Namespace: "ml", Pod: "jax", Container: "main", Resource: TPUResource, Devices: []string{"0"}}}},
		{[]string{"example.com/none"}, nil},
	} {
		got, err := p.Allocations(context.Background(), tc.resources...)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Allocations(%v)\n got %+v\nwant %+v", tc.resources, got, tc.want)
		}
	}
}

func TestAllocatedSeries(t *testing.T) {
	allocs := []Allocation{
		{Namespace: "ml", Pod: "trn", Container: "infer", Resource: NeuronCoreResource, Devices: []string{"4", "5", "9"}},
		{Namespace: "ml", Pod: "trn", Container: "train", Resource: NeuronDeviceResource, Devices: []string{"1", "elsewhere"}},
		{Namespace: "ml", Pod: "bad\xff", Container: "c", Resource: NeuronDeviceResource, Devices: []string{"0"}},
	}
	// Four NeuronCores a device: cores 4 and 5 are on device 1, core 9 on 2.
	device := func(resource, id string) (string, bool) {
		switch {
		case id == "elsewhere":
			return "", false
		case resource == NeuronCoreResource:
			n := map[string]string{"4": "1", "5": "1", "9": "2"}[id]
			return n, n != ""
		}
		return id, true
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(metricsCollector(AllocatedSeries(allocs, "aws", device)))
	got := testutil.Series(t, reg, "orb8_pod_accelerator_allocated")
	want := "{container=infer,device=1,namespace=ml,pod=trn,vendor=aws} {container=infer,device=2,namespace=ml,pod=trn,vendor=aws} " +
		"{container=train,device=1,namespace=ml,pod=trn,vendor=aws}"
	if got != want {
		t.Fatalf("series\n got %s\nwant %s", got, want)
	}
}

// metricsCollector collects fixed series.
type metricsCollector []prometheus.Metric

func (m metricsCollector) Describe(ch chan<- *prometheus.Desc) { accelerator.Describe(ch) }

func (m metricsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, x := range m {
		ch <- x
	}
}
