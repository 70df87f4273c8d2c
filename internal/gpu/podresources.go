// Package gpu knows which pod holds which accelerator (NVIDIA and AMD GPUs,
// Google TPU chips, AWS Neuron devices and NeuronCores), from the kubelet's
// pod-resources API, and how evenly a pod's GPUs are used.
package gpu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	podresources "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// Allocation is one container's devices of one resource, as the kubelet
// assigned them.
type Allocation struct {
	Namespace, Pod, Container string
	Resource                  string   // e.g. nvidia.com/gpu, amd.com/gpu, google.com/tpu
	Devices                   []string // GPU UUIDs (GPU-8f6e...), or the device plugin's IDs
}

// PodResources reads accelerator allocations from the kubelet's pod-resources socket.
type PodResources struct {
	socket string

	mu   sync.Mutex
	conn *grpc.ClientConn
}

// NewPodResources returns a reader of the socket; nothing is dialled yet.
func NewPodResources(socket string) *PodResources { return &PodResources{socket: socket} }

// GPUAllocations lists the containers that hold NVIDIA GPUs, idle or not.
// Without the socket (no kubelet on this host) it returns nothing and no
// error.
func (p *PodResources) GPUAllocations(ctx context.Context) ([]Allocation, error) {
	return p.allocations(ctx, isGPU, deviceUUID)
}

// TPUAllocations lists the containers that hold Google TPU chips
// (google.com/tpu), each chip by the ID the TPU device plugin gave it.
func (p *PodResources) TPUAllocations(ctx context.Context) ([]Allocation, error) {
	return p.Allocations(ctx, TPUResource)
}

// Extended resources of the accelerators whose device plugins name each
// device by an ID of their own.
const (
	TPUResource          = "google.com/tpu"            // a TPU chip
	AMDGPUResource       = "amd.com/gpu"               // an AMD GPU, by PCI address (0000:c1:00.0)
	NeuronDeviceResource = "aws.amazon.com/neuron"     // a Neuron device (Trainium, Inferentia)
	NeuronCoreResource   = "aws.amazon.com/neuroncore" // a NeuronCore, numbered across the node
)

// Allocations lists the containers that hold devices of the resources,
// each device by the ID its device plugin gave it.
func (p *PodResources) Allocations(ctx context.Context, resources ...string) ([]Allocation, error) {
	return p.allocations(ctx, func(r string) bool { return slices.Contains(resources, r) }, func(id string) string { return id })
}

// allocations lists the containers holding devices of the resources
// matched, each device ID as id makes it.
func (p *PodResources) allocations(ctx context.Context, matches func(resource string) bool, id func(string) string) ([]Allocation, error) {
	if _, err := os.Stat(p.socket); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	client, err := p.client()
	if err != nil {
		return nil, err
	}
	resp, err := client.List(ctx, &podresources.ListPodResourcesRequest{})
	if err != nil {
		return nil, fmt.Errorf("kubelet pod-resources List on %s: %w", p.socket, err)
	}
	var out []Allocation
	for _, pod := range resp.GetPodResources() {
		for _, c := range pod.GetContainers() {
			for _, d := range c.GetDevices() {
				if !matches(d.GetResourceName()) || len(d.GetDeviceIds()) == 0 {
					continue
				}
				a := Allocation{Namespace: pod.GetNamespace(), Pod: pod.GetName(), Container: c.GetName(), Resource: d.GetResourceName()}
				for _, dev := range d.GetDeviceIds() {
					a.Devices = append(a.Devices, id(dev))
				}
				out = append(out, a)
			}
		}
	}
	return out, nil
}

func (p *PodResources) client() (podresources.PodResourcesListerClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		conn, err := grpc.NewClient("unix://"+p.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, fmt.Errorf("kubelet pod-resources socket %s: %w", p.socket, err)
		}
		p.conn = conn
	}
	return podresources.NewPodResourcesListerClient(p.conn), nil
}

// Close drops the connection.
func (p *PodResources) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return nil
	}
	err := p.conn.Close()
	p.conn = nil
	return err
}

// isGPU recognises GPU device-plugin resources: nvidia.com/gpu, and MIG
// slices such as nvidia.com/mig-1g.10gb.
func isGPU(resource string) bool {
	vendor, name, ok := strings.Cut(resource, "/")
	return ok && vendor == "nvidia.com" && (name == "gpu" || strings.HasPrefix(name, "mig-"))
}

// deviceUUID strips the replica suffix the NVIDIA device plugin adds to
// shared (time-sliced) GPUs: GPU-8f6e...::3 is GPU GPU-8f6e....
func deviceUUID(id string) string {
	uuid, _, _ := strings.Cut(id, "::")
	return uuid
}

// Imbalance is how unevenly a set of GPUs is used: (max - min) / max of their
// utilizations; 0 when they are equally busy (or all idle), 1 when one works
// and another idles.
func Imbalance(utilizations []float64) float64 {
	if len(utilizations) < 2 {
		return 0
	}
	lo, hi := utilizations[0], utilizations[0]
	for _, u := range utilizations[1:] {
		lo, hi = min(lo, u), max(hi, u)
	}
	if hi <= 0 {
		return 0
	}
	return (hi - lo) / hi
}
