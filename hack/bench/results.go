package main

import (
	"fmt"
	"math"
	"sort"
)

// Results is what `make bench` records in docs/bench/results.json.
type Results struct {
	Machine   Machine          `json:"machine"`
	Date      string           `json:"date"`
	Runs      int              `json:"runs"`
	Workloads []WorkloadResult `json:"workloads"`
	Scale     *ScaleResult     `json:"scale,omitempty"`
	Targets   []Target         `json:"targets"`
}

// Machine names where the numbers come from.
type Machine struct {
	Kernel string  `json:"kernel"`
	CPU    string  `json:"cpu"`
	CPUs   int     `json:"cpus"`
	MemGiB float64 `json:"memGiB"`
	Commit string  `json:"commit"`
}

// Stat is a median with the spread of the runs.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func stat(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	mid := len(s) / 2
	med := s[mid]
	if len(s)%2 == 0 {
		med = (s[mid-1] + s[mid]) / 2
	}
	return Stat{Median: med, Min: s[0], Max: s[len(s)-1]}
}

// WorkloadResult holds every mode's figures for one workload.
type WorkloadResult struct {
	Name  string                 `json:"name"`
	Unit  string                 `json:"unit"`
	Modes map[string]*ModeResult `json:"modes"`
}

// ModeResult summarizes one mode (none, orb8, bpftrace) of one workload.
type ModeResult struct {
	Throughput Stat            `json:"throughput"`
	Slowdown   *Stat           `json:"slowdownPct,omitempty"` // vs. none, from paired runs
	CPUPct     *Stat           `json:"cpuPct,omitempty"`
	RSSMB      *Stat           `json:"rssMB,omitempty"`
	EventsPS   *Stat           `json:"eventsPerSecond,omitempty"`
	Lost       *Stat           `json:"eventsLost,omitempty"`
	BPFRunsPS  *Stat           `json:"bpfRunsPerSecond,omitempty"`
	BPFCPUPct  *Stat           `json:"bpfCpuPct,omitempty"`
	BPFNsByRun map[string]Stat `json:"bpfNsPerRun,omitempty"`
	// orb8+api only: capture-to-API latency of the latency prober's execs.
	LatencyP50    *Stat `json:"captureToApiP50Ms,omitempty"`
	LatencyP99    *Stat `json:"captureToApiP99Ms,omitempty"`
	LatencyMissed *Stat `json:"latencyProbesMissed,omitempty"`
	// orb8+api only: exec events the client streamed per second.
	StreamedPS *Stat `json:"eventsStreamedPerSecond,omitempty"`

	samples []sample
}

func (w *WorkloadResult) add(mode string, s sample) {
	m := w.Modes[mode]
	if m == nil {
		m = &ModeResult{}
		w.Modes[mode] = m
	}
	m.samples = append(m.samples, s)
}

func (w WorkloadResult) summarize() WorkloadResult {
	none := w.Modes["none"]
	for mode, m := range w.Modes {
		pick := func(f func(sample) float64) []float64 {
			xs := make([]float64, len(m.samples))
			for i, s := range m.samples {
				xs[i] = f(s)
			}
			return xs
		}
		m.Throughput = stat(pick(func(s sample) float64 { return s.Ops }))
		if mode == "none" {
			continue
		}
		var slow []float64
		for i, s := range m.samples {
			if i < len(none.samples) && none.samples[i].Ops > 0 {
				slow = append(slow, 100*(1-s.Ops/none.samples[i].Ops))
			}
		}
		ptr := func(s Stat) *Stat { return &s }
		m.Slowdown = ptr(stat(slow))
		m.CPUPct = ptr(stat(pick(func(s sample) float64 { return s.CPUPct })))
		m.RSSMB = ptr(stat(pick(func(s sample) float64 { return s.RSSMB })))
		m.BPFCPUPct = ptr(stat(pick(func(s sample) float64 { return s.BPFCPUPct })))
		if mode == "bpftrace" {
			continue
		}
		m.EventsPS = ptr(stat(pick(func(s sample) float64 { return s.EventsPS })))
		m.Lost = ptr(stat(pick(func(s sample) float64 { return s.Lost })))
		m.BPFRunsPS = ptr(stat(pick(func(s sample) float64 { return s.BPFRunsPS })))
		m.BPFNsByRun = map[string]Stat{}
		for probe := range m.samples[0].BPFNsByRun {
			m.BPFNsByRun[probe] = stat(pick(func(s sample) float64 { return s.BPFNsByRun[probe] }))
		}
		if mode == "orb8+api" {
			m.LatencyP50 = ptr(stat(pick(func(s sample) float64 { return s.LatencyP50Ms })))
			m.LatencyP99 = ptr(stat(pick(func(s sample) float64 { return s.LatencyP99Ms })))
			m.LatencyMissed = ptr(stat(pick(func(s sample) float64 { return s.LatencyMissed })))
			m.StreamedPS = ptr(stat(pick(func(s sample) float64 { return s.StreamedPS })))
		}
	}
	return w
}

// Target is one goal of the suite and whether this run met it.
type Target struct {
	Name     string  `json:"name"`
	Measured float64 `json:"measured"`
	Limit    float64 `json:"limit"`
	Unit     string  `json:"unit"`
	Met      bool    `json:"met"`
	Note     string  `json:"note,omitempty"`
}

// mode is one mode's results of a workload, nil when it did not run.
func (r Results) mode(workload, mode string) *ModeResult {
	for _, w := range r.Workloads {
		if w.Name == workload {
			return w.Modes[mode]
		}
	}
	return nil
}

func evaluateTargets(r Results) []Target {
	var ts []Target
	find := func(name string) *ModeResult { return r.mode(name, "orb8") }
	below := func(name string, measured, limit float64, unit, note string) {
		if !math.IsNaN(measured) {
			ts = append(ts, Target{Name: name, Measured: measured, Limit: limit, Unit: unit, Met: measured <= limit, Note: note})
		}
	}
	for _, w := range []string{"exec_storm", "tcp_bulk"} {
		if m := find(w); m != nil {
			below(w+" slowdown", m.Slowdown.Median, 2, "%", "")
		}
	}
	if m := r.mode("exec_storm", "orb8+api"); m != nil {
		below("exec_storm slowdown with a client streaming every exec", m.Slowdown.Median, 10, "%", "")
	}
	if m := find("exec_storm"); m != nil && m.Throughput.Median > 0 {
		below("agent CPU at 10,000 events/s", m.CPUPct.Median*10000/m.Throughput.Median, 0.5, "% of a core",
			"scaled linearly from the exec storm's agent CPU and exec rate, nobody streaming")
	}
	if m := find("idle"); m != nil {
		below("idle RSS", m.RSSMB.Median, 50, "MB", "")
	}
	if m := r.mode("idle", "orb8+api"); m != nil {
		below("idle p99 capture-to-API", m.LatencyP99.Median, 2, "ms",
			fmt.Sprintf("exec events of a prober cgroup, %d/s, streamed to one gRPC client", probeRate))
	}
	if r.Scale != nil {
		below("extra RSS with scale workloads", r.Scale.ExtraRSSMB, 50, "MB", "")
		below("scrape time with scale workloads", r.Scale.Scrape.Median*1000, 100, "ms",
			fmt.Sprintf("a scrape every %.0f s at rest, as Prometheus scrapes", scrapeInterval.Seconds()))
		below("agent CPU at rest with scale workloads", r.Scale.IdleCPUPct, 1, "% of a core", "")
	}
	return ts
}
