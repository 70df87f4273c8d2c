//go:build cgo

package nvml

import (
	"context"
	"fmt"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/accelerator"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/gpu"
	"github.com/orb8/orb8/internal/series"
)

// vendor is the value of the vendor label of every NVML series.
const vendor = "nvidia"

var podLabels = []string{"namespace", "pod", "container", "vendor", "device", "uuid"}

// metrics are the series the probe exports of its own: what Describe sends.
// The device-level and per-workload accelerator families are shared with
// the other vendors' probes (package accelerator).
var metrics series.Set

var (
	podUtilDesc     = metrics.Plain("orb8_pod_accelerator_utilization_ratio", "Utilization of each device assigned to a pod's container (NVML).", podLabels...)
	podMemDesc      = metrics.Plain("orb8_pod_accelerator_memory_used_bytes", "Memory used on each device assigned to a pod's container (NVML).", podLabels...)
	podImbalanceDsc = metrics.Plain("orb8_pod_accelerator_imbalance_ratio", "(max - min) / max of the utilizations of a pod's devices (pods with several devices).", "namespace", "pod", "vendor")
)

// throttleReasons are the clock event reasons exported, by label.
var throttleReasons = []struct {
	label string
	bit   uint64
}{
	{"gpu_idle", nvml.ClocksEventReasonGpuIdle},
	{"applications_clocks_setting", nvml.ClocksEventReasonApplicationsClocksSetting},
	{"sw_power_cap", nvml.ClocksEventReasonSwPowerCap},
	{"hw_slowdown", nvml.ClocksThrottleReasonHwSlowdown},
	{"sync_boost", nvml.ClocksEventReasonSyncBoost},
	{"sw_thermal_slowdown", nvml.ClocksEventReasonSwThermalSlowdown},
	{"hw_thermal_slowdown", nvml.ClocksThrottleReasonHwThermalSlowdown},
	{"hw_power_brake_slowdown", nvml.ClocksThrottleReasonHwPowerBrakeSlowdown},
	{"display_clock_setting", nvml.ClocksEventReasonDisplayClockSetting},
}

// device is what one poll learned about one GPU.
type device struct {
	labels      []string // vendor, device, uuid, model
	utilization float64
	hasUtil     bool
	memUsed     uint64
}

// workloadGPU keys per-workload sums on one GPU.
type workloadGPU struct {
	w         cgroup.Workload
	gpu, uuid string
}

// poll reads every GPU once and replaces the exported series.
func (p *Probe) poll(ctx context.Context) error {
	n, ret := p.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return fmt.Errorf("NVML device count: %s", nvml.ErrorString(ret))
	}
	var out []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	byUUID := map[string]*device{}
	var utils []float64
	wlMem := map[workloadGPU]float64{}
	wlUtil := map[workloadGPU]float64{}
	for i := range n {
		h, ret := p.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return fmt.Errorf("NVML device %d: %s", i, nvml.ErrorString(ret))
		}
		d := p.readDevice(h, i, gauge)
		byUUID[d.labels[2]] = d
		if d.hasUtil {
			utils = append(utils, d.utilization)
		}
		p.attribute(h, d, wlMem, wlUtil)
	}
	if len(utils) > 1 {
		gauge(accelerator.ImbalanceDesc, gpu.Imbalance(utils), vendor)
	}
	for k, v := range wlMem {
		out = append(out, series.Metric(accelerator.WorkloadMemoryUsedDesc, prometheus.GaugeValue, v, k.w, vendor, k.gpu, k.uuid))
	}
	for k, v := range wlUtil {
		out = append(out, series.Metric(accelerator.WorkloadUtilizationDesc, prometheus.GaugeValue, v, k.w, vendor, k.gpu, k.uuid))
	}
	p.podSeries(ctx, byUUID, gauge)

	p.Keep(out)
	return nil
}

// readDevice emits the device-level series NVML supports for this GPU.
func (p *Probe) readDevice(h nvml.Device, index int, gauge func(*prometheus.Desc, float64, ...string)) *device {
	uuid, _ := h.GetUUID()
	model, _ := h.GetName()
	d := &device{labels: []string{vendor, fmt.Sprint(index), uuid, model}}
	if u, ret := h.GetUtilizationRates(); ret == nvml.SUCCESS {
		d.utilization, d.hasUtil = float64(u.Gpu)/100, true
		gauge(accelerator.UtilizationDesc, d.utilization, d.labels...)
	}
	if m, ret := h.GetMemoryInfo(); ret == nvml.SUCCESS {
		d.memUsed = m.Used
		gauge(accelerator.MemoryUsedDesc, float64(m.Used), d.labels...)
		gauge(accelerator.MemoryTotalDesc, float64(m.Total), d.labels...)
	}
	if t, ret := h.GetTemperature(nvml.TEMPERATURE_GPU); ret == nvml.SUCCESS {
		gauge(accelerator.TemperatureDesc, float64(t), d.labels...)
	}
	if mw, ret := h.GetPowerUsage(); ret == nvml.SUCCESS {
		gauge(accelerator.PowerDesc, float64(mw)/1000, d.labels...)
	}
	for dir, counter := range map[string]nvml.PcieUtilCounter{"tx": nvml.PCIE_UTIL_TX_BYTES, "rx": nvml.PCIE_UTIL_RX_BYTES} {
		if kbps, ret := h.GetPcieThroughput(counter); ret == nvml.SUCCESS {
			gauge(accelerator.PCIeDesc, float64(kbps)*1024, append(d.labels, dir)...)
		}
	}
	if reasons, ret := h.GetCurrentClocksEventReasons(); ret == nvml.SUCCESS {
		for _, r := range throttleReasons {
			v := 0.0
			if reasons&r.bit != 0 {
				v = 1
			}
			gauge(accelerator.ThrottledDesc, v, append(d.labels, r.label)...)
		}
	}
	return d
}

// attribute adds the GPU's processes' memory and SM utilization to their workloads.
func (p *Probe) attribute(h nvml.Device, d *device, mem, util map[workloadGPU]float64) {
	procs, ret := h.GetComputeRunningProcesses()
	if ret != nvml.SUCCESS || len(procs) == 0 {
		return
	}
	uuid := d.labels[2]
	sm := p.smUtilization(h, uuid)
	for _, pr := range procs {
		w, ok := p.env.WorkloadOfPID(p.proc, pr.Pid)
		if !ok {
			continue // exited since NVML listed it, or not reported on
		}
		k := workloadGPU{w: w, gpu: d.labels[1], uuid: uuid}
		mem[k] += float64(pr.UsedGpuMemory)
		util[k] += sm[pr.Pid]
	}
}

// smUtilization returns each process's newest SM utilization sample since the last poll.
func (p *Probe) smUtilization(h nvml.Device, uuid string) map[uint32]float64 {
	p.mu.Lock()
	since := p.lastSeen[uuid]
	p.mu.Unlock()
	samples, ret := h.GetProcessUtilization(since)
	out := map[uint32]float64{}
	if ret != nvml.SUCCESS { // ERROR_NOT_FOUND: no sample since then
		return out
	}
	newest := map[uint32]uint64{}
	for _, s := range samples {
		if s.TimeStamp >= newest[s.Pid] {
			newest[s.Pid] = s.TimeStamp
			out[s.Pid] = float64(s.SmUtil) / 100
		}
		since = max(since, s.TimeStamp)
	}
	p.mu.Lock()
	p.lastSeen[uuid] = since
	p.mu.Unlock()
	return out
}

// podSeries exports which pod holds which GPU, with the GPU's use.
func (p *Probe) podSeries(ctx context.Context, byUUID map[string]*device, gauge func(*prometheus.Desc, float64, ...string)) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	allocs, err := p.pods.GPUAllocations(ctx)
	if err != nil {
		p.env.Log.Warn("GPU allocations from the kubelet", "err", err)
		return
	}
	type pod struct{ namespace, name string }
	podUtils := map[pod][]float64{}
	for _, a := range allocs {
		for _, uuid := range a.Devices {
			d, ok := byUUID[uuid]
			if !ok {
				continue // a MIG slice or another node's device
			}
			labels := []string{a.Namespace, a.Pod, a.Container, vendor, d.labels[1], uuid}
			gauge(accelerator.AllocatedDesc, 1, labels[:5]...)
			gauge(podMemDesc, float64(d.memUsed), labels...)
			if d.hasUtil {
				gauge(podUtilDesc, d.utilization, labels...)
				k := pod{a.Namespace, a.Pod}
				podUtils[k] = append(podUtils[k], d.utilization)
			}
		}
	}
	for k, utils := range podUtils {
		if len(utils) > 1 {
			gauge(podImbalanceDsc, gpu.Imbalance(utils), k.namespace, k.name, vendor)
		}
	}
}
