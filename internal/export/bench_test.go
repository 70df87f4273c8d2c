package export_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probes/cgroups"
	"github.com/orb8/orb8/internal/probes/process"
	"github.com/orb8/orb8/internal/testutil"
)

// benchWorkloads is the scale the issue sets: 5,000 workloads on one node.
const benchWorkloads = 5000

// benchParents numbers the parents makeWorkloads makes in one process.
var benchParents atomic.Int64

// makeWorkloads creates n sibling cgroups under one parent; it returns the
// parent's path (as in the cgroup label) and the directories.
func makeWorkloads(b *testing.B, n int) (parentPath string, dirs []string) {
	root, err := cgroup.FindMount()
	if err != nil {
		b.Fatal(err)
	}
	parent := filepath.Join(root, fmt.Sprintf("orb8-bench-%d-%d", os.Getpid(), benchParents.Add(1)))
	if err := os.Mkdir(parent, 0o755); err != nil {
		b.Fatal(err)
	}
	dirs = make([]string, n)
	b.Cleanup(func() {
		for _, d := range dirs {
			if d != "" {
				os.Remove(d)
			}
		}
		os.Remove(parent)
	})
	for i := range dirs {
		dirs[i] = filepath.Join(parent, fmt.Sprintf("w%04d", i))
		if err := os.Mkdir(dirs[i], 0o755); err != nil {
			b.Fatal(err)
		}
	}
	return "/" + filepath.Base(parent), dirs
}

// runIn runs a program inside the cgroup directory dir.
func runIn(dir, program string) error {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	cmd := exec.Command(program)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	return cmd.Run()
}

// scrape fetches /metrics as Prometheus does, gzip accepted, and returns
// the bytes on the wire.
func scrape(b *testing.B, url string) []byte {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" {
		b.Fatalf("scrape: %v %s %q", err, resp.Status, resp.Header.Get("Content-Encoding"))
	}
	return raw
}

// exposition unpacks a gzipped scrape: plain size and number of samples.
func exposition(b *testing.B, gz []byte) (plain, samples int) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		b.Fatal(err)
	}
	text, err := io.ReadAll(zr)
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(text), "\n") {
		if line != "" && line[0] != '#' {
			samples++
		}
	}
	return len(text), samples
}

// cpuTime is the CPU time this process used so far (agent and client).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkScrape5000Workloads times /metrics of an agent that tracks
// 5,000 real cgroups, each with one exec: with the process probe alone and
// with every default probe; "gather" is the registry alone (what OTLP and
// protobuf scrapes take), "scrape" the whole HTTP response as Prometheus
// asks for it (text, gzip). Run as root:
//
//	go test ./internal/export -run '^$' -bench Scrape5000 -benchtime 20x
func BenchmarkScrape5000Workloads(b *testing.B) {
	testutil.RequireRoot(b)
	parent, dirs := makeWorkloads(b, benchWorkloads)
	for _, set := range []struct {
		name   string
		probes []string
	}{
		{"process", []string{cgroups.Name, process.Name}},
		{"default", []string{"default"}},
	} {
		cfg := agent.DefaultConfig()
		cfg.Probes = set.probes
		a, err := agent.New(cfg, quiet)
		if err != nil {
			b.Fatal(err)
		}
		a.Start(b.Context())
		for _, dir := range dirs {
			if err := runIn(dir, "/bin/true"); err != nil {
				b.Fatal(err)
			}
		}
		testutil.Eventually(b, 10*time.Second, func() bool { return countExecs(b, a, parent) == benchWorkloads },
			"not all %d workloads exported", benchWorkloads)
		srv := httptest.NewServer(a.Handler())

		b.Run(set.name+"/gather", func(b *testing.B) {
			cpu := cpuTime()
			for b.Loop() {
				if _, err := a.Gatherer().Gather(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
		})
		b.Run(set.name+"/scrape", func(b *testing.B) {
			var gz []byte
			cpu := cpuTime()
			for b.Loop() {
				gz = scrape(b, srv.URL+"/metrics")
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
			plain, samples := exposition(b, gz)
			b.ReportMetric(float64(len(gz)), "gzip-bytes")
			b.ReportMetric(float64(plain), "bytes")
			b.ReportMetric(float64(samples), "samples")
		})
		srv.Close()
		a.Close()
	}
}

// countExecs counts the workloads under parent that report exactly one exec.
func countExecs(b *testing.B, a *agent.Agent, parent string) (ones int) {
	families, err := a.Gatherer().Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "orb8_process_exec_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "cgroup" && strings.HasPrefix(l.GetValue(), parent+"/") {
					if m.GetCounter().GetValue() == 1 {
						ones++
					}
				}
			}
		}
	}
	return ones
}
