// Package promtest runs a real Prometheus server on generated history for
// tests: series are written as OpenMetrics, backfilled into a TSDB with
// `promtool tsdb create-blocks-from openmetrics`, and served by
// `prometheus` on a loopback port. Tests skip when the Debian prometheus
// package is absent, unless ORB8_REQUIRE_PROMETHEUS=1 (the project's test
// command sets it), where they fail.
package promtest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

// Where Debian's prometheus package puts its binaries.
const (
	PrometheusBin = "/usr/bin/prometheus"
	PromtoolBin   = "/usr/bin/promtool"
)

// Missing says why no server can run here, or "" when one can.
func Missing() string {
	for _, b := range []string{PrometheusBin, PromtoolBin} {
		if _, err := os.Stat(b); err != nil {
			return b + " missing: apt-get install -y --no-install-recommends prometheus (hack/test.sh installs it)"
		}
	}
	return ""
}

// Require skips t when no server can run, or fails it under
// ORB8_REQUIRE_PROMETHEUS=1.
func Require(t testing.TB) {
	t.Helper()
	if why := Missing(); why != "" {
		if os.Getenv("ORB8_REQUIRE_PROMETHEUS") == "1" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
}

// History is generated series, by metric name and label set.
type History struct {
	series map[string]*series
}

type series struct {
	name   string
	labels string // rendered {a="b",...}
	points []point
}

type point struct {
	t int64 // ms
	v float64
}

// NewHistory returns an empty history.
func NewHistory() *History { return &History{series: map[string]*series{}} }

// Add appends a sample of metric name with labels at t.
func (h *History) Add(name string, labels map[string]string, t time.Time, v float64) {
	l := renderLabels(labels)
	key := name + l
	s := h.series[key]
	if s == nil {
		s = &series{name: name, labels: l}
		h.series[key] = s
	}
	s.points = append(s.points, point{t.UnixMilli(), v})
}

func renderLabels(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%s", k, strconv.Quote(labels[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// WriteOpenMetrics writes the history as OpenMetrics text: every sample
// name is a family of type unknown (so counters, histogram buckets and
// gauges need no naming rules), each series' samples in time order.
func (h *History) WriteOpenMetrics(w io.Writer) error {
	bw := bufio.NewWriter(w)
	byName := map[string][]*series{}
	for _, s := range h.series {
		byName[s.name] = append(byName[s.name], s)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(bw, "# TYPE %s unknown\n", n)
		list := byName[n]
		sort.Slice(list, func(i, j int) bool { return list[i].labels < list[j].labels })
		for _, s := range list {
			slices.SortStableFunc(s.points, func(a, b point) int { return int(a.t - b.t) })
			for _, p := range s.points {
				fmt.Fprintf(bw, "%s%s %s %d.%03d\n", s.name, s.labels, strconv.FormatFloat(p.v, 'g', -1, 64), p.t/1000, p.t%1000)
			}
		}
	}
	fmt.Fprintln(bw, "# EOF")
	return bw.Flush()
}

// Server is a Prometheus serving backfilled history.
type Server struct {
	URL string
	dir string
	cmd *exec.Cmd
	log *testutil.Buffer
}

// Start backfills h into a fresh TSDB and starts Prometheus on it, on a
// loopback port; it returns once the server is ready.
func Start(h *History) (*Server, error) {
	if why := Missing(); why != "" {
		return nil, fmt.Errorf("%s", why)
	}
	dir, err := os.MkdirTemp("", "orb8-promtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, log: &testutil.Buffer{}}
	if err := s.start(h); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(h *History) error {
	input := filepath.Join(s.dir, "history.om")
	f, err := os.Create(input)
	if err != nil {
		return err
	}
	if err := h.WriteOpenMetrics(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	data := filepath.Join(s.dir, "data")
	if out, err := exec.Command(PromtoolBin, "tsdb", "create-blocks-from", "openmetrics", "--quiet",
		// One pass per block over the whole input: 2 h blocks (the default)
		// made 21 days of history take ~90 s, 31-day blocks ~2 s.
		"--max-block-duration=744h", input, data).CombinedOutput(); err != nil {
		return fmt.Errorf("promtool backfill: %v: %s", err, out)
	}
	cfg := filepath.Join(s.dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1h\n"), 0o644); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	s.URL = "http://" + addr
	s.cmd = exec.Command(PrometheusBin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+data,
		"--storage.tsdb.retention.time=3650d",
		"--web.listen-address="+addr,
		"--log.level=warn")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("prometheus not ready after 60 s; log:\n%s", s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the server and removes its data.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
	os.RemoveAll(s.dir)
}

// Log is what the server wrote so far.
func (s *Server) Log() string { return s.log.String() }

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Shared starts one server for a test binary on first use, from the
// history build returns; Stop it in TestMain after m.Run.
type Shared struct {
	build func() *History
	once  sync.Once
	srv   *Server
	err   error
}

// NewShared returns a shared server built from build on first use.
func NewShared(build func() *History) *Shared { return &Shared{build: build} }

// Get returns the running server, starting it the first time; it skips or
// fails t (see Require) when none can run.
func (s *Shared) Get(t testing.TB) *Server {
	t.Helper()
	Require(t)
	s.once.Do(func() { s.srv, s.err = Start(s.build()) })
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.srv
}

// Stop stops the server if it was started.
func (s *Shared) Stop() {
	if s.srv != nil {
		s.srv.Stop()
	}
}

// SharedAll is a Shared server of every history (All), ending a minute
// before now (so queries ending now see all of it), and that end.
func SharedAll() (*Shared, time.Time) {
	end := time.Now().Add(-time.Minute).Truncate(time.Second)
	return NewShared(func() *History { return All(end) }), end
}
