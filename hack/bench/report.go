package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
)

const (
	beginMarker = "<!-- bench:begin: written by `make bench`; edit outside these markers -->"
	endMarker   = "<!-- bench:end -->"
)

func f(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// ms formats a Stat as "median (min..max)".
func spread(s *Stat) string {
	if s == nil {
		return "-"
	}
	return fmt.Sprintf("%s (%s..%s)", f(s.Median), f(s.Min), f(s.Max))
}

func renderMarkdown(r Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Suite (`make bench`)\n\n")
	fmt.Fprintf(&b, "%s, %d CPUs, %.0f GiB, kernel %s, commit %s, %s. %d runs; within each run the modes alternate "+
		"(no observer, orb8 agent with its default probes, the agent again with an API client watching, bpftrace doing "+
		"the same counting), so noise hits all alike. Figures are medians with (min..max); slowdowns come from paired runs. "+
		"With the API client (orb8 + API), one gRPC client streams every exec event of the node (`WatchEvents`, kind exec, "+
		"batched, as `orb8 trace exec` does), the workload's included; a prober in a cgroup of its own execs a tiny "+
		"program %d times a second, and the capture-to-API latency of its execs is the arrival time minus the kernel's "+
		"timestamp in the event. A watcher turns on exec events for every process of the node (the kernel gate "+
		"`orb8_emit`), so the plain orb8 figures come from the pass without it.\n\n",
		r.Machine.CPU, r.Machine.CPUs, r.Machine.MemGiB, r.Machine.Kernel, r.Machine.Commit, r.Date, r.Runs, probeRate)
	b.WriteString("| workload | unit | no observer | orb8 | orb8 slowdown % | orb8 + API slowdown % | bpftrace | bpftrace slowdown % |\n|---|---|---|---|---|---|---|---|\n")
	for _, w := range r.Workloads {
		o, oa, bt := w.Modes["orb8"], w.Modes["orb8+api"], w.Modes["bpftrace"]
		row := []string{w.Name, w.Unit, spread(&w.Modes["none"].Throughput), spread(&o.Throughput), spread(o.Slowdown), "-", "-", "-"}
		if oa != nil {
			row[5] = spread(oa.Slowdown)
		}
		if bt != nil {
			row[6], row[7] = spread(&bt.Throughput), spread(bt.Slowdown)
		}
		fmt.Fprintf(&b, "| %s |\n", strings.Join(row, " | "))
	}
	b.WriteString("\nObserver cost during each workload:\n\n")
	b.WriteString("| workload | orb8 CPU % of a core | orb8 CPU % per 1,000 events/s | orb8 RSS MB | events/s | events lost | capture-to-API p50 ms | capture-to-API p99 ms | BPF runs/s | BPF CPU % | BPF ns per run (by probe) | bpftrace CPU % | bpftrace BPF CPU % | bpftrace RSS MB |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, w := range r.Workloads {
		o, bt := w.Modes["orb8"], w.Modes["bpftrace"]
		p50, p99 := "-", "-"
		if oa := w.Modes["orb8+api"]; oa != nil && oa.LatencyP50 != nil {
			p50, p99 = spread(oa.LatencyP50), spread(oa.LatencyP99)
			if missed := oa.LatencyMissed.Max; missed > 0 {
				p99 += fmt.Sprintf(", %s probes missed in a run", f(missed))
			}
		}
		per1k := "-"
		if o.EventsPS.Median >= 100 {
			per1k = f(o.CPUPct.Median * 1000 / o.EventsPS.Median)
		}
		var byProbe []string
		for probe, s := range o.BPFNsByRun {
			byProbe = append(byProbe, fmt.Sprintf("%s %s", probe, f(s.Median)))
		}
		sort.Strings(byProbe)
		btCPU, btBPF, btRSS := "-", "-", "-"
		if bt != nil {
			btCPU, btBPF, btRSS = spread(bt.CPUPct), f(bt.BPFCPUPct.Median), f(bt.RSSMB.Median)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", w.Name, spread(o.CPUPct), per1k,
			f(o.RSSMB.Median), f(o.EventsPS.Median), f(o.Lost.Max), p50, p99, f(o.BPFRunsPS.Median), f(o.BPFCPUPct.Median),
			strings.Join(byProbe, ", "), btCPU, btBPF, btRSS)
	}
	if s := r.Scale; s != nil {
		ms := func(st Stat) string { return spread(&Stat{st.Median * 1000, st.Min * 1000, st.Max * 1000}) }
		fmt.Fprintf(&b, "\nScale: %d cgroups, each with a sleeping process and the memory controller, as a pod has them (on hybrid hosts a v1 memory twin). Agent RSS %s MB without them, %s MB with them "+
			"(%s MB extra, after %d scrapes back to back from 3 s after start, which took %s ms); start-up %s s; "+
			"at rest %s%% of a core (%s s from %s s after those scrapes); then a scrape every %s s: %s ms, %d bytes "+
			"(read as Prometheus reads a scrape: its Accept header, gzip, a buffer kept from the last scrape; "+
			"the figures leave out the parse that Prometheus's scrape_duration_seconds holds too).\n",
			s.Workloads, f(s.BaseRSSMB), f(s.RSSMB), f(s.ExtraRSSMB), scrapes, ms(s.ScrapeAfterStart), f(s.StartSeconds),
			f(s.IdleCPUPct), f(scaleIdle.Seconds()), f(scaleSettle.Seconds()), f(scrapeInterval.Seconds()), ms(s.Scrape),
			s.ScrapeBytes)
	}
	fmt.Fprintf(&b, "\n| target | measured | limit | met |\n|---|---|---|---|\n")
	for _, t := range r.Targets {
		met := "yes"
		if !t.Met {
			met = "**no**"
		}
		note := ""
		if t.Note != "" {
			note = " (" + t.Note + ")"
		}
		fmt.Fprintf(&b, "| %s%s | %s %s | %s %s | %s |\n", t.Name, note, f(t.Measured), t.Unit, f(t.Limit), t.Unit, met)
	}
	return b.String()
}

// writeDoc replaces the suite section of doc, or appends it.
func writeDoc(path string, r Results) error {
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	section := beginMarker + "\n" + renderMarkdown(r) + endMarker + "\n"
	s := string(data)
	if i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker); i >= 0 && j > i {
		s = s[:i] + section + strings.TrimPrefix(s[j+len(endMarker):], "\n")
	} else {
		s = strings.TrimRight(s, "\n") + "\n\n" + section
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

// printComparison shows the change of every median against earlier results.
func printComparison(w io.Writer, old, cur Results) {
	fmt.Fprintf(w, "change against %s (commit %s):\n", old.Date, old.Machine.Commit)
	fmt.Fprintf(w, "%-16s %-9s %-22s %12s %12s %9s\n", "workload", "mode", "figure", "before", "now", "change")
	line := func(wl, mode, fig string, before, now *Stat) {
		if before == nil || now == nil {
			return
		}
		change := "-"
		if before.Median != 0 {
			change = fmt.Sprintf("%+.1f%%", 100*(now.Median-before.Median)/math.Abs(before.Median))
		}
		fmt.Fprintf(w, "%-16s %-9s %-22s %12s %12s %9s\n", wl, mode, fig, f(before.Median), f(now.Median), change)
	}
	for _, cw := range cur.Workloads {
		for _, ow := range old.Workloads {
			if ow.Name != cw.Name {
				continue
			}
			for mode, cm := range cw.Modes {
				om := ow.Modes[mode]
				if om == nil {
					continue
				}
				line(cw.Name, mode, "throughput "+cw.Unit, &om.Throughput, &cm.Throughput)
				line(cw.Name, mode, "slowdown %", om.Slowdown, cm.Slowdown)
				line(cw.Name, mode, "CPU %", om.CPUPct, cm.CPUPct)
				line(cw.Name, mode, "RSS MB", om.RSSMB, cm.RSSMB)
				line(cw.Name, mode, "capture-to-API p50 ms", om.LatencyP50, cm.LatencyP50)
				line(cw.Name, mode, "capture-to-API p99 ms", om.LatencyP99, cm.LatencyP99)
			}
		}
	}
	if old.Scale != nil && cur.Scale != nil {
		line("scale", "orb8", "extra RSS MB", &Stat{Median: old.Scale.ExtraRSSMB}, &Stat{Median: cur.Scale.ExtraRSSMB})
		line("scale", "orb8", "scrape at interval s", &old.Scale.Scrape, &cur.Scale.Scrape)
		line("scale", "orb8", "scrape after start s", &old.Scale.ScrapeAfterStart, &cur.Scale.ScrapeAfterStart)
		line("scale", "orb8", "CPU % at rest", &Stat{Median: old.Scale.IdleCPUPct}, &Stat{Median: cur.Scale.IdleCPUPct})
	}
}
