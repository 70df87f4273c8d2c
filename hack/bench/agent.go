package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/orb8/orb8/internal/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// agentProc is a running `orb8 agent`.
type agentProc struct {
	cmd     *exec.Cmd
	addr    string // metrics
	apiAddr string // gRPC API
	// body is what the last scrape read, kept for the next one as
	// Prometheus keeps a buffer of the size of a target's last scrape.
	body bytes.Buffer
	gz   *gzip.Reader
}

var runningRE = regexp.MustCompile(`msg="agent running" metrics=(\S+)`)

// apiSocket is where the measured agent serves its API: a unix socket, the
// agent's default kind (a TCP API would need TLS).
var apiSocket = filepath.Join(os.TempDir(), fmt.Sprintf("orb8-bench-%d.sock", os.Getpid()))

func startAgent(bin string, args ...string) (*agentProc, error) {
	os.Remove(apiSocket) // left by an agent that did not stop
	apiAddr := "unix://" + apiSocket
	cmd := exec.Command(bin, append([]string{"agent", "--metrics-addr", "127.0.0.1:0", "--api-addr", apiAddr}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := runningRE.FindStringSubmatch(sc.Text()); m != nil {
			go func() {
				for sc.Scan() {
				}
			}()
			return &agentProc{cmd: cmd, addr: m[1], apiAddr: apiAddr}, nil
		}
	}
	cmd.Wait()
	return nil, fmt.Errorf("agent exited before it was running")
}

func (a *agentProc) stop() {
	a.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		a.cmd.Process.Kill()
		<-done
	}
}

// cpuSeconds is the agent's user+system CPU time so far.
func (a *agentProc) cpuSeconds() float64 { return processCPUSeconds(a.cmd.Process.Pid) }

// processCPUSeconds is what process pid's threads have run (schedstat, ns
// precision: /proc/<pid>/stat's 10 ms ticks read 0 over a 1 s run), or 0
// once it is gone.
func processCPUSeconds(pid int) float64 {
	d, _ := testutil.ProcessCPU(pid)
	return d.Seconds()
}

func (a *agentProc) rssMB() float64 { return processRSSMB(a.cmd.Process.Pid) }

func processRSSMB(pid int) float64 {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// readBody reads resp's body into a.body, inflated.
func (a *agentProc) readBody(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("scrape: %s", resp.Status)
	}
	if resp.Header.Get("Content-Encoding") != "gzip" {
		_, err := a.body.ReadFrom(resp.Body)
		return err
	}
	var err error
	if a.gz == nil {
		a.gz, err = gzip.NewReader(resp.Body)
	} else {
		err = a.gz.Reset(resp.Body)
	}
	if err != nil {
		return err
	}
	_, err = a.body.ReadFrom(a.gz)
	return err
}

// selfMetrics are the agent's own counters, summed over probes.
type selfMetrics struct {
	events, lost, bpfSeconds, bpfRuns float64
	bpfSecondsByProbe                 map[string]float64
	bpfRunsByProbe                    map[string]float64
	scrape                            time.Duration
}

// prometheusAccept is what Prometheus 3 asks a target for by default.
const prometheusAccept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6," +
	"application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4," +
	"text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

// scrape reads /metrics as Prometheus's scrape loop does (scrape.go,
// readResponse): its Accept header, gzip inflated with klauspost/compress,
// into the buffer of the last scrape. Timed: the request and the whole
// body, not the parse that Prometheus's scrape_duration_seconds also holds.
func (a *agentProc) scrape() (selfMetrics, error) {
	m := selfMetrics{bpfSecondsByProbe: map[string]float64{}, bpfRunsByProbe: map[string]float64{}}
	req, err := http.NewRequest(http.MethodGet, "http://"+a.addr+"/metrics", nil)
	if err != nil {
		return m, err
	}
	req.Header.Set("Accept", prometheusAccept)
	req.Header.Set("Accept-Encoding", "gzip") // set here, so the transport leaves the body compressed
	begin := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	a.body.Reset()
	if err := a.readBody(resp); err != nil {
		return m, err
	}
	m.scrape = time.Since(begin)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(a.body.Bytes()))
	if err != nil {
		return m, err
	}
	sum := func(name string, by map[string]float64) float64 {
		total := 0.0
		for _, s := range families[name].GetMetric() {
			v := s.GetCounter().GetValue()
			total += v
			if by != nil {
				for _, l := range s.GetLabel() {
					if l.GetName() == "probe" {
						by[l.GetValue()] += v
					}
				}
			}
		}
		return total
	}
	m.events = sum("orb8_events_total", nil)
	m.lost = sum("orb8_events_lost_total", nil)
	m.bpfSeconds = sum("orb8_bpf_program_run_seconds_total", m.bpfSecondsByProbe)
	m.bpfRuns = sum("orb8_bpf_program_runs_total", m.bpfRunsByProbe)
	return m, nil
}
