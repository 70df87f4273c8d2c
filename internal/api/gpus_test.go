package api

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// TestGPUsKeepVendorsApart: device 0 of two vendors on one node are two
// GPUs, each with its vendor and its own figures.
func TestGPUsKeepVendorsApart(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	labels := []string{"vendor", "device", "uuid", "model"}
	util := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orb8_accelerator_utilization_ratio", Help: "h"}, labels)
	used := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orb8_accelerator_memory_used_bytes", Help: "h"}, labels)
	reg.MustRegister(util, used)
	util.WithLabelValues("nvidia", "0", "GPU-5c1e", "NVIDIA H100").Set(0.25)
	used.WithLabelValues("nvidia", "0", "GPU-5c1e", "NVIDIA H100").Set(1 << 30)
	util.WithLabelValues("amd", "0", "0x1d2e", "AMD Instinct MI300X").Set(0.75)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*pb.GPU{}
	for _, g := range gpus(families, "node-a") {
		got[g.GetVendor()] = g
	}
	nv, amd := got["nvidia"], got["amd"]
	if len(got) != 2 || nv == nil || amd == nil {
		t.Fatalf("GPUs %v, want one nvidia and one amd", got)
	}
	if nv.GetGpu() != "0" || nv.GetUtilizationRatio() != 0.25 || nv.GetMemoryUsedBytes() != 1<<30 || nv.GetNode() != "node-a" {
		t.Errorf("nvidia GPU %v", nv)
	}
	if amd.GetGpu() != "0" || amd.GetUuid() != "0x1d2e" || amd.GetUtilizationRatio() != 0.75 || amd.MemoryUsedBytes != nil {
		t.Errorf("amd GPU %v", amd)
	}
}
