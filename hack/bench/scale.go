package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ScaleResult is the agent with many workloads on the node.
type ScaleResult struct {
	Workloads    int     `json:"workloads"`
	BaseRSSMB    float64 `json:"baseRssMB"`
	RSSMB        float64 `json:"rssMB"`
	ExtraRSSMB   float64 `json:"extraRssMB"`
	StartSeconds float64 `json:"startSeconds"`
	// Scrape is a scrape every scrapeInterval once the agent runs at rest,
	// as Prometheus scrapes it; ScrapeAfterStart as many back to back
	// from 3 s after it started, where the first ones build what later ones
	// reuse. Both time the request and the inflated body, not the parse.
	Scrape           Stat `json:"scrapeAtIntervalSeconds"`
	ScrapeAfterStart Stat `json:"scrapeAfterStartSeconds"`
	ScrapeBytes      int  `json:"scrapeBytes"`
	// IdleCPUPct is the agent's CPU at rest beside them, after the scrapes.
	IdleCPUPct float64 `json:"idleCpuPct"`
}

// The agent's CPU at rest beside the workloads is taken over scaleIdle (a
// CUDA full scan and six fd scans fall in it), scaleSettle after the
// scrapes: the start-up's work on them and the scrapes' garbage are past.
// Then come scrapes scrapeInterval apart, as Prometheus's example
// configuration scrapes (15 s): whatever the agent frees or the kernel
// takes back between them is paid again by each.
const (
	scaleSettle    = 20 * time.Second
	scaleIdle      = 30 * time.Second
	scrapeInterval = 15 * time.Second
	scrapes        = 5
)

// measureScale puts one sleeping process in each of n fresh cgroups and
// compares the agent's memory and scrape cost with and without them.
func measureScale(orb8 string, t tools, dir string, n int) (*ScaleResult, error) {
	r := &ScaleResult{Workloads: n}
	base, err := startAgent(orb8)
	if err != nil {
		return nil, err
	}
	time.Sleep(3 * time.Second)
	base.scrape()
	r.BaseRSSMB = base.rssMB()
	base.stop()

	tree, err := newScaleTree(fmt.Sprintf("orb8-bench-scale-%d", os.Getpid()))
	if err != nil {
		return nil, err
	}
	var procs []*exec.Cmd
	defer func() {
		tree.kill(n)
		for _, c := range procs {
			c.Wait()
		}
		tree.remove(n)
	}()
	sleeper := filepath.Join(dir, "sleeper")
	for i := range n {
		cg, err := tree.add(i)
		if err != nil {
			return nil, err
		}
		c := exec.Command(sleeper)
		if err := startInCgroup(cg, c); err != nil {
			return nil, fmt.Errorf("start sleeper %d: %w", i, err)
		}
		procs = append(procs, c)
		if err := tree.joinMemory(i, c.Process.Pid); err != nil {
			return nil, err
		}
	}

	begin := time.Now()
	a, err := startAgent(orb8)
	if err != nil {
		return nil, err
	}
	defer a.stop()
	r.StartSeconds = time.Since(begin).Seconds()
	time.Sleep(3 * time.Second)
	if r.ScrapeAfterStart, err = timeScrapes(a, 0); err != nil {
		return nil, err
	}
	r.RSSMB = a.rssMB()
	r.ExtraRSSMB = r.RSSMB - r.BaseRSSMB
	time.Sleep(scaleSettle)
	cpu := a.cpuSeconds()
	time.Sleep(scaleIdle)
	r.IdleCPUPct = 100 * (a.cpuSeconds() - cpu) / scaleIdle.Seconds()
	if r.Scrape, err = timeScrapes(a, scrapeInterval); err != nil {
		return nil, err
	}
	r.ScrapeBytes = a.body.Len()
	return r, nil
}

// timeScrapes times scrapes of a, each interval after the one before.
func timeScrapes(a *agentProc, interval time.Duration) (Stat, error) {
	var took []float64
	for i := range scrapes {
		if i > 0 {
			time.Sleep(interval)
		}
		m, err := a.scrape()
		if err != nil {
			return Stat{}, err
		}
		took = append(took, m.scrape.Seconds())
	}
	return stat(took), nil
}
