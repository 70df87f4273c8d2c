// Command bench is orb8's benchmark suite (`make bench`): each workload runs
// with no observer, with the orb8 agent and with bpftrace doing the same
// counting, alternating within every repetition so that machine noise hits
// all three alike; figures are medians with their spread. It writes
// docs/bench/results.json and its section of docs/benchmarks.md.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	var (
		orb8     = flag.String("orb8", "bin/orb8", "orb8 binary to measure")
		runs     = flag.Int("runs", 5, "repetitions of every workload in every mode")
		only     = flag.String("only", "", "comma-separated workloads to run (default all)")
		scale    = flag.Int("scale", 10000, "workloads (cgroups with a process) for the scale run; 0 skips it")
		bpftrace = flag.Bool("bpftrace", true, "compare with bpftrace where a workload has a script")
		out      = flag.String("out", "docs/bench/results.json", "results file")
		doc      = flag.String("doc", "docs/benchmarks.md", "document whose suite section is rewritten; empty skips")
		compare  = flag.String("compare", "", "earlier results file: print the change against it")
	)
	flag.Parse()
	if err := run(*orb8, *runs, *only, *scale, *bpftrace, *out, *doc, *compare); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(orb8 string, runs int, only string, scale int, withBpftrace bool, out, doc, compare string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: the agent loads BPF programs")
	}
	if _, err := os.Stat(orb8); err != nil {
		return fmt.Errorf("orb8 binary: %w (make build)", err)
	}
	dir, err := os.MkdirTemp("", "orb8-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	t, err := buildTools(dir)
	if err != nil {
		return err
	}
	selected := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		if n != "" {
			selected[n] = true
		}
	}
	ws, closeAll, err := workloads(t, selected)
	defer closeAll()
	if err != nil {
		return err
	}
	if withBpftrace {
		if _, err := exec.LookPath("bpftrace"); err != nil {
			return fmt.Errorf("bpftrace not found (apt-get install bpftrace), or pass -bpftrace=false")
		}
	}

	stats, err := enableBPFStats()
	if err != nil {
		return fmt.Errorf("enable BPF run-time stats: %w", err)
	}
	defer stats.Close()

	res := Results{Machine: machine(), Runs: runs, Date: time.Now().UTC().Format(time.RFC3339)}
	for _, w := range ws {
		// orb8+api is the agent again, now with the latency prober watching
		// its API (which turns on event emission for the whole node).
		modes := []string{"none", "orb8", "orb8+api"}
		if w.bpftrace != "" && withBpftrace {
			modes = append(modes, "bpftrace")
		}
		wr := WorkloadResult{Name: w.name, Unit: w.unit, Modes: map[string]*ModeResult{}}
		for i := range runs {
			for _, mode := range modes {
				s, err := measure(w, mode, orb8, t.execchain)
				if err != nil {
					return fmt.Errorf("%s with %s, run %d: %w", w.name, mode, i+1, err)
				}
				wr.add(mode, s)
				detail := ""
				if mode != "none" {
					detail = fmt.Sprintf(", CPU %.3g%%, BPF CPU %.3g%%", s.CPUPct, s.BPFCPUPct)
				}
				if mode == "orb8+api" {
					detail += fmt.Sprintf(", streamed %.4g/s, capture-to-API p50 %.3g ms p99 %.3g ms", s.StreamedPS, s.LatencyP50Ms, s.LatencyP99Ms)
				}
				fmt.Fprintf(os.Stderr, "%-15s %-8s run %d: %.4g %s%s\n", w.name, mode, i+1, s.Ops, w.unit, detail)
			}
		}
		res.Workloads = append(res.Workloads, wr.summarize())
	}
	if scale > 0 {
		sr, err := measureScale(orb8, t, dir, scale)
		if err != nil {
			return fmt.Errorf("scale: %w", err)
		}
		res.Scale = sr
	}
	res.Targets = evaluateTargets(res)

	var old *Results
	if compare != "" {
		if old, err = readResults(compare); err != nil {
			return err
		}
	}
	if err := writeJSON(out, res); err != nil {
		return err
	}
	if doc != "" {
		if err := writeDoc(doc, res); err != nil {
			return err
		}
	}
	if old != nil {
		printComparison(os.Stdout, *old, res)
	} else {
		fmt.Print(renderMarkdown(res))
	}
	return nil
}

func buildTools(dir string) (tools, error) {
	_, self, _, _ := runtime.Caller(0)
	here := filepath.Dir(self)
	t := tools{execchain: filepath.Join(dir, "execchain"), pingpong: filepath.Join(dir, "pingpong"), cuda: filepath.Join(dir, "cuda")}
	// The CUDA stand-ins of the cuda probe's tests, built like real CUDA
	// libraries (endbr64 first): libcuda.so, libcudart.so and their app.
	standin := filepath.Join(here, "../../internal/probes/cuda/testdata/standin")
	cudaFlags := []string{"-O2", "-fcf-protection=full", "-fno-omit-frame-pointer"}
	if err := os.MkdirAll(t.cuda, 0o755); err != nil {
		return t, err
	}
	builds := [][]string{
		append(append([]string{}, cudaFlags...), "-shared", "-fPIC", "-o", t.cuda+"/libcuda.so", standin+"/cuda.c"),
		append(append([]string{}, cudaFlags...), "-shared", "-fPIC", "-o", t.cuda+"/libcudart.so", standin+"/cudart.c", "-L"+t.cuda, "-lcuda", "-Wl,-rpath,"+t.cuda),
		append(append([]string{}, cudaFlags...), "-o", t.cuda+"/app", standin+"/app.c", "-ldl", "-lpthread"),
		{"-O2", "-static", "-nostdlib", "-fno-stack-protector", "-x", "c", "-o", t.execchain, filepath.Join(here, "../../internal/testutil/execchain/execchain.c")},
		{"-O2", "-x", "c", "-o", t.pingpong, filepath.Join(here, "c/pingpong.c")},
		{"-O2", "-static", "-nostdlib", "-fno-stack-protector", "-x", "c", "-o", filepath.Join(dir, "sleeper"), filepath.Join(here, "c/sleeper.c")},
	}
	for _, args := range builds {
		if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
			return t, fmt.Errorf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return t, nil
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU()}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		fmt.Sscanf(strings.SplitN(string(data), "\n", 2)[0], "MemTotal: %f kB", &kb)
		m.MemGiB = kb / 1024 / 1024
	}
	return m
}

func writeJSON(path string, r Results) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func readResults(path string) (*Results, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("earlier results: %w", err)
	}
	var r Results
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("earlier results %s: %w", path, err)
	}
	return &r, nil
}
