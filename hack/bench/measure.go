package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// sample is what one run of a workload in one mode measured.
type sample struct {
	Ops        float64            // workload throughput
	CPUPct     float64            // observer CPU, % of one core, during the run
	RSSMB      float64            // observer resident memory after the run
	EventsPS   float64            // single events the agent read per second
	Lost       float64            // events lost during the run
	BPFRunsPS  float64            // BPF program runs per second
	BPFCPUPct  float64            // kernel time in all BPF programs, % of one core
	BPFNsByRun map[string]float64 // per probe: ns per program run
	// With an API client streaming every exec (orb8+api): capture-to-API
	// latency of the latency prober's execs, in ms, and how many never arrived.
	LatencyP50Ms, LatencyP99Ms, LatencyMissed float64
	StreamedPS                                float64 // exec events the client received per second
}

// measure runs w once with the observer of mode. probeProgram is what the
// latency prober execs in orb8+api mode.
func measure(w workload, mode, orb8, probeProgram string) (sample, error) {
	switch mode {
	case "none":
		ops, err := w.run()
		return sample{Ops: ops}, err
	case "orb8":
		return measureAgent(w, orb8, "")
	case "orb8+api":
		return measureAgent(w, orb8, probeProgram)
	case "bpftrace":
		return measureBpftrace(w)
	}
	return sample{}, fmt.Errorf("unknown mode %q", mode)
}

// measureAgent runs w under the agent; with a probeProgram, a latency prober
// watches the agent's API throughout.
func measureAgent(w workload, orb8, probeProgram string) (sample, error) {
	a, err := startAgent(orb8)
	if err != nil {
		return sample{}, err
	}
	defer a.stop()
	time.Sleep(time.Second) // start-up work (seeding, tree scan) is not the workload's cost
	var p *prober
	if probeProgram != "" {
		if p, err = startProber(a.apiAddr, probeProgram); err != nil {
			return sample{}, err
		}
	}
	before, err := a.scrape()
	if err != nil {
		return sample{}, err
	}
	cpu0, bpf0, begin := a.cpuSeconds(), bpfKernelSeconds(), time.Now()
	ops, err := w.run()
	var latency probeResult
	if p != nil {
		var perr error
		latency, perr = p.stop()
		err = errors.Join(err, perr)
	}
	if err != nil {
		return sample{}, err
	}
	wall, cpu1, bpf1 := time.Since(begin).Seconds(), a.cpuSeconds(), bpfKernelSeconds()
	after, err := a.scrape()
	if err != nil {
		return sample{}, err
	}
	s := sample{
		Ops: ops, CPUPct: 100 * (cpu1 - cpu0) / wall, RSSMB: a.rssMB(),
		EventsPS:      (after.events - before.events) / wall,
		Lost:          after.lost - before.lost,
		BPFRunsPS:     (after.bpfRuns - before.bpfRuns) / wall,
		BPFCPUPct:     100 * (bpf1 - bpf0) / wall,
		BPFNsByRun:    map[string]float64{},
		LatencyP50Ms:  ms(latency.p50),
		LatencyP99Ms:  ms(latency.p99),
		LatencyMissed: float64(latency.missed),
		StreamedPS:    float64(latency.streamed) / wall,
	}
	for probe, secs := range after.bpfSecondsByProbe {
		if runs := after.bpfRunsByProbe[probe] - before.bpfRunsByProbe[probe]; runs > 0 {
			s.BPFNsByRun[probe] = 1e9 * (secs - before.bpfSecondsByProbe[probe]) / runs
		}
	}
	return s, nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// bpftraceAttachTimeout bounds bpftrace's start: compiling and loading a
// script takes a few seconds.
const bpftraceAttachTimeout = 60 * time.Second

// bpftraceExitTimeout is how long bpftrace gets to exit on SIGINT before
// it is killed: one that had warned it could not raise RLIMIT_MEMLOCK once
// ignored it, and the suite waited for good.
const bpftraceExitTimeout = 10 * time.Second

// stopBpftrace interrupts bpftrace, and kills it if it does not exit.
func stopBpftrace(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(bpftraceExitTimeout):
		fmt.Fprintf(os.Stderr, "bpftrace did not exit within %v of SIGINT: killed\n", bpftraceExitTimeout)
		cmd.Process.Kill()
		<-exited
	}
}

// measureBpftrace runs the workload under bpftrace doing the same counting.
func measureBpftrace(w workload) (sample, error) {
	cmd := exec.Command("bpftrace", "-e", w.bpftrace)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return sample{}, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	defer stopBpftrace(cmd)
	// bpftrace says "Attaching" once its probes are on; a bpftrace that
	// never does (it exited, or hangs) fails the run instead of the
	// harness waiting for good.
	attached := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		said := false
		for sc.Scan() {
			if !said && strings.HasPrefix(sc.Text(), "Attaching") {
				said = true
				attached <- true
			}
		}
		if !said {
			attached <- false
		}
	}()
	select {
	case ok := <-attached:
		if !ok {
			return sample{}, fmt.Errorf("bpftrace exited before attaching")
		}
	case <-time.After(bpftraceAttachTimeout):
		return sample{}, fmt.Errorf("bpftrace did not attach within %v", bpftraceAttachTimeout)
	}
	time.Sleep(500 * time.Millisecond)
	pid := cmd.Process.Pid
	cpu0, bpf0, begin := processCPUSeconds(pid), bpfKernelSeconds(), time.Now()
	ops, err := w.run()
	if err != nil {
		return sample{}, err
	}
	wall := time.Since(begin).Seconds()
	return sample{Ops: ops, CPUPct: 100 * (processCPUSeconds(pid) - cpu0) / wall, RSSMB: processRSSMB(pid),
		BPFCPUPct: 100 * (bpfKernelSeconds() - bpf0) / wall}, nil
}
