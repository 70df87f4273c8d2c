//go:build cgo

package nvml

import (
	"context"
	"fmt"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/gpu"
	"github.com/orb8/orb8/internal/series"
)

var deviceLabels = []string{"gpu", "uuid", "model"}

func deviceDesc(name, help string, extra ...string) *prometheus.Desc {
	return metrics.Plain(name, help, append(append([]string{}, deviceLabels...), extra...)...)
}

var podLabels = []string{"namespace", "pod", "container", "gpu", "uuid"}

// metrics are the series the probe exports: what Describe sends.
var metrics series.Set

var (
	utilDesc        = deviceDesc("orb8_gpu_utilization_ratio", "Fraction of the last sample period in which a kernel ran on the GPU (NVML).")
	memUsedDesc     = deviceDesc("orb8_gpu_memory_used_bytes", "GPU memory in use.")
	memTotalDesc    = deviceDesc("orb8_gpu_memory_total_bytes", "GPU memory installed.")
	tempDesc        = deviceDesc("orb8_gpu_temperature_celsius", "GPU core temperature.")
	powerDesc       = deviceDesc("orb8_gpu_power_watts", "GPU power draw.")
	pcieDesc        = deviceDesc("orb8_gpu_pcie_bytes_per_second", "PCIe throughput of the GPU, by direction (tx: GPU to host).", "direction")
	throttledDesc   = deviceDesc("orb8_gpu_throttled", "1 while the GPU's clocks are held down for the reason (NVML clock event reasons).", "reason")
	imbalanceDesc   = metrics.Plain("orb8_gpu_imbalance_ratio", "(max - min) / max of the node's GPU utilizations: 0 balanced, 1 one busy while another idles.")
	wlMemDesc       = metrics.Workload("orb8_workload_gpu_memory_used_bytes", "GPU memory used by the workload's processes, per GPU.", "gpu", "uuid")
	wlUtilDesc      = metrics.Workload("orb8_workload_gpu_utilization_ratio", "SM utilization by the workload's processes, per GPU (NVML process samples).", "gpu", "uuid")
	allocatedDesc   = metrics.Plain("orb8_pod_gpu_allocated", "1 for each GPU the kubelet assigned to a pod's container, busy or idle.", podLabels...)
	podUtilDesc     = metrics.Plain("orb8_pod_gpu_utilization_ratio", "Utilization of each GPU assigned to a pod's container.", podLabels...)
	podMemDesc      = metrics.Plain("orb8_pod_gpu_memory_used_bytes", "Memory used on each GPU assigned to a pod's container.", podLabels...)
	podImbalanceDsc = metrics.Plain("orb8_pod_gpu_imbalance_ratio", "(max - min) / max of the utilizations of a pod's GPUs (pods with several GPUs).", "namespace", "pod")
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
	labels      []string // gpu, uuid, model
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
		byUUID[d.labels[1]] = d
		if d.hasUtil {
			utils = append(utils, d.utilization)
		}
		p.attribute(h, d, wlMem, wlUtil)
	}
	if len(utils) > 1 {
		gauge(imbalanceDesc, gpu.Imbalance(utils))
	}
	for k, v := range wlMem {
		out = append(out, series.Metric(wlMemDesc, prometheus.GaugeValue, v, k.w, k.gpu, k.uuid))
	}
	for k, v := range wlUtil {
		out = append(out, series.Metric(wlUtilDesc, prometheus.GaugeValue, v, k.w, k.gpu, k.uuid))
	}
	p.podSeries(ctx, byUUID, gauge)

	p.mu.Lock()
	p.series = out
	p.mu.Unlock()
	return nil
}

// readDevice emits the device-level series NVML supports for this GPU.
func (p *Probe) readDevice(h nvml.Device, index int, gauge func(*prometheus.Desc, float64, ...string)) *device {
	uuid, _ := h.GetUUID()
	model, _ := h.GetName()
	d := &device{labels: []string{fmt.Sprint(index), uuid, model}}
	if u, ret := h.GetUtilizationRates(); ret == nvml.SUCCESS {
		d.utilization, d.hasUtil = float64(u.Gpu)/100, true
		gauge(utilDesc, d.utilization, d.labels...)
	}
	if m, ret := h.GetMemoryInfo(); ret == nvml.SUCCESS {
		d.memUsed = m.Used
		gauge(memUsedDesc, float64(m.Used), d.labels...)
		gauge(memTotalDesc, float64(m.Total), d.labels...)
	}
	if t, ret := h.GetTemperature(nvml.TEMPERATURE_GPU); ret == nvml.SUCCESS {
		gauge(tempDesc, float64(t), d.labels...)
	}
	if mw, ret := h.GetPowerUsage(); ret == nvml.SUCCESS {
		gauge(powerDesc, float64(mw)/1000, d.labels...)
	}
	for dir, counter := range map[string]nvml.PcieUtilCounter{"tx": nvml.PCIE_UTIL_TX_BYTES, "rx": nvml.PCIE_UTIL_RX_BYTES} {
		if kbps, ret := h.GetPcieThroughput(counter); ret == nvml.SUCCESS {
			gauge(pcieDesc, float64(kbps)*1024, append(d.labels, dir)...)
		}
	}
	if reasons, ret := h.GetCurrentClocksEventReasons(); ret == nvml.SUCCESS {
		for _, r := range throttleReasons {
			v := 0.0
			if reasons&r.bit != 0 {
				v = 1
			}
			gauge(throttledDesc, v, append(d.labels, r.label)...)
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
	uuid := d.labels[1]
	sm := p.smUtilization(h, uuid)
	for _, pr := range procs {
		w, ok := p.env.WorkloadOfPID(p.proc, pr.Pid)
		if !ok {
			continue // exited since NVML listed it, or not reported on
		}
		k := workloadGPU{w: w, gpu: d.labels[0], uuid: uuid}
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
			labels := []string{a.Namespace, a.Pod, a.Container, d.labels[0], uuid}
			gauge(allocatedDesc, 1, labels...)
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
			gauge(podImbalanceDsc, gpu.Imbalance(utils), k.namespace, k.name)
		}
	}
}
