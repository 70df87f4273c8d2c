package series

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/orb8/orb8/internal/cgroup"
)

var (
	shapeSet      Set
	shapeExecs    = shapeSet.Workload("orb8_shape_execs_total", "Counter.")
	shapeBytes    = shapeSet.Workload("orb8_shape_bytes_total", "Counter with labels.", "direction", "protocol")
	shapeRunning  = shapeSet.Workload("orb8_shape_running", "Gauge.")
	shapeETA      = shapeSet.Workload("orb8_shape_eta_seconds", "Gauge by minimum.").Min()
	shapeLatency  = shapeSet.WorkloadHistogram("orb8_shape_latency_seconds", "Log2 histogram.", Log2Bounds())
	shapeConstLat = shapeSet.WorkloadHistogram("orb8_shape_const_seconds", "client_golang histogram.", []float64{0.1, 0.2, 0.4})
	shapePlain    = shapeSet.Plain("orb8_shape_plain", "Not per workload.")
)

// shapeWorkload is one cgroup of a test collection and what it counted.
type shapeWorkload struct {
	w       cgroup.Workload
	execs   float64
	running float64
	eta     float64
	slots   []uint64
}

// shapeCollector emits the test families for its workloads: as samples,
// or with rows set through Rows.
type shapeCollector struct {
	workloads []shapeWorkload
	rows      bool
	// labelled starts rows from workload labels made beforehand (RowOf),
	// as a probe's RowCache does.
	labelled bool
}

func (c *shapeCollector) Describe(ch chan<- *prometheus.Desc) { shapeSet.Describe(ch) }

func (c *shapeCollector) Collect(ch chan<- prometheus.Metric) {
	if c.rows {
		c.collectRows(ch)
		return
	}
	for _, sw := range c.workloads {
		ch <- Metric(shapeExecs, prometheus.CounterValue, sw.execs, sw.w)
		ch <- Metric(shapeBytes, prometheus.CounterValue, sw.execs, sw.w, "tx", "tcp")
		ch <- Metric(shapeBytes, prometheus.CounterValue, 2*sw.execs, sw.w, "rx", "tcp")
		ch <- Metric(shapeRunning, prometheus.GaugeValue, sw.running, sw.w)
		ch <- Metric(shapeETA, prometheus.GaugeValue, sw.eta, sw.w)
		var h Log2Hist
		copy(h.Slots[:], sw.slots)
		ch <- Histogram(shapeLatency, &h, sw.w)
		ch <- prometheus.MustNewConstHistogram(shapeConstLat.Desc, uint64(sw.execs), sw.execs/10,
			map[float64]uint64{0.1: 0, 0.2: uint64(sw.execs), 0.4: uint64(sw.execs)}, sw.w.LabelValues()...)
	}
	ch <- prometheus.MustNewConstMetric(shapePlain, prometheus.GaugeValue, 1)
}

// collectRows is Collect through Rows.
func (c *shapeCollector) collectRows(ch chan<- prometheus.Metric) {
	rows := RowsTo(ch)
	for _, sw := range c.workloads {
		r := rows.Row(sw.w)
		if c.labelled {
			r = rows.RowOf(NewWorkloadLabels(sw.w))
		}
		r.Send(shapeExecs, prometheus.CounterValue, sw.execs)
		r.Send(shapeBytes, prometheus.CounterValue, sw.execs, "tx", "tcp")
		r.Send(shapeBytes, prometheus.CounterValue, 2*sw.execs, "rx", "tcp")
		r.Send(shapeRunning, prometheus.GaugeValue, sw.running)
		r.Send(shapeETA, prometheus.GaugeValue, sw.eta)
		var h Log2Hist
		copy(h.Slots[:], sw.slots)
		r.SendHistogram(shapeLatency, &h)
		r.Done()
		ch <- prometheus.MustNewConstHistogram(shapeConstLat.Desc, uint64(sw.execs), sw.execs/10,
			map[float64]uint64{0.1: 0, 0.2: uint64(sw.execs), 0.4: uint64(sw.execs)}, sw.w.LabelValues()...)
	}
	ch <- prometheus.MustNewConstMetric(shapePlain, prometheus.GaugeValue, 1)
}

// testOwners: pods "a-1" and "a-2" belong to Deployment a, "b-1" to
// StatefulSet b; others are unknown. An owner kind of "pending:ReplicaSet"
// is the ReplicaSet's answer while its Deployment is not known.
type testOwners map[string][2]string

func (o testOwners) Version() uint64 { return 0 } // unknown: ask every time

func (o testOwners) PodOwner(namespace, pod string) (string, string, OwnerState) {
	v, ok := o[namespace+"/"+pod]
	if kind, pending := strings.CutPrefix(v[0], "pending:"); pending {
		return kind, v[1], OwnerPending
	}
	if !ok {
		return "", "", OwnerUnknown
	}
	return v[0], v[1], OwnerKnown
}

var owners = testOwners{"ns/a-1": {"Deployment", "a"}, "ns/a-2": {"Deployment", "a"}, "ns/b-1": {"StatefulSet", "b"}}

func pod(p, c string) cgroup.Workload {
	return cgroup.Workload{Namespace: "ns", Pod: p, Container: c, Path: "/kubepods/" + p + "/" + c}
}

// scrapeText collects c through Gather and the text exposition, as
// /metrics serves it.
func scrapeText(t *testing.T, c prometheus.Collector) string {
	t.Helper()
	e, err := Gather([]prometheus.Collector{c})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := e.WriteText(&buf, expfmt.NewFormat(expfmt.TypeTextPlain)); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// lines returns the sample lines of metric name (no HELP/TYPE).
func lines(text, name string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, name+"{") || strings.HasPrefix(l, name+" ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestShaperLevels(t *testing.T) {
	c := &shapeCollector{workloads: []shapeWorkload{
		{w: pod("a-1", "app"), execs: 1, running: 1, eta: 30, slots: []uint64{1}},
		{w: pod("a-1", "side"), execs: 2, running: 1, eta: 20, slots: []uint64{0, 1}},
		{w: pod("a-2", "app"), execs: 4, running: 2, eta: 40},
		{w: pod("b-1", "db"), execs: 8, running: 1, eta: 50},
		{w: cgroup.Workload{Path: "/system.slice/sshd.service"}, execs: 16, running: 3, eta: 60},
	}}
	for _, tc := range []struct {
		level Level
		want  string
	}{
		{LevelContainer, `orb8_shape_execs_total{container="",namespace="",pod=""} 16
orb8_shape_execs_total{container="app",namespace="ns",pod="a-1"} 1
orb8_shape_execs_total{container="app",namespace="ns",pod="a-2"} 4
orb8_shape_execs_total{container="db",namespace="ns",pod="b-1"} 8
orb8_shape_execs_total{container="side",namespace="ns",pod="a-1"} 2`},
		{LevelPod, `orb8_shape_execs_total{namespace="",pod=""} 16
orb8_shape_execs_total{namespace="ns",pod="a-1"} 3
orb8_shape_execs_total{namespace="ns",pod="a-2"} 4
orb8_shape_execs_total{namespace="ns",pod="b-1"} 8`},
		{LevelOwner, `orb8_shape_execs_total{namespace="",owner_kind="",owner_name=""} 16
orb8_shape_execs_total{namespace="ns",owner_kind="Deployment",owner_name="a"} 7
orb8_shape_execs_total{namespace="ns",owner_kind="StatefulSet",owner_name="b"} 8`},
		{LevelNamespace, `orb8_shape_execs_total{namespace=""} 16
orb8_shape_execs_total{namespace="ns"} 15`},
		{LevelNode, `orb8_shape_execs_total 31`},
	} {
		t.Run(tc.level.String(), func(t *testing.T) {
			text := scrapeText(t, NewShaper(Shaping{Aggregation: tc.level}, owners, time.Minute).Wrap(c))
			if got := lines(text, "orb8_shape_execs_total"); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			if !strings.Contains(text, "orb8_shape_plain 1\n") {
				t.Errorf("plain metric missing:\n%s", text)
			}
		})
	}
	text := scrapeText(t, NewShaper(Shaping{Aggregation: LevelNode}, owners, time.Minute).Wrap(c))
	for _, want := range []string{
		"orb8_shape_running 8\n", "orb8_shape_eta_seconds 20\n",
		`orb8_shape_bytes_total{direction="rx",protocol="tcp"} 62` + "\n",
		`orb8_shape_latency_seconds_bucket{le="2e-06"} 1` + "\n", `orb8_shape_latency_seconds_bucket{le="4e-06"} 2` + "\n",
		`orb8_shape_const_seconds_bucket{le="0.1"} 0` + "\n", `orb8_shape_const_seconds_bucket{le="0.2"} 31` + "\n",
		"orb8_shape_const_seconds_count 31\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("node level: no %q in\n%s", want, text)
		}
	}
}

func TestShaperCountersStayMonotonic(t *testing.T) {
	c := &shapeCollector{workloads: []shapeWorkload{
		{w: pod("a-1", "app"), execs: 5}, {w: pod("a-2", "app"), execs: 7}, {w: pod("new", "app"), execs: 1},
	}}
	sh := NewShaper(Shaping{Aggregation: LevelOwner}, owners, time.Minute)
	now := time.Unix(1000, 0)
	sh.now = func() time.Time { return now }
	w := sh.Wrap(c)
	deployment := `orb8_shape_execs_total{namespace="ns",owner_kind="Deployment",owner_name="a"} `
	expect := func(want string) {
		t.Helper()
		if got := lines(scrapeText(t, w), "orb8_shape_execs_total"); got != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
	}
	expect(`orb8_shape_execs_total{namespace="ns",owner_kind="",owner_name=""} 1` + "\n" + deployment + "12")
	// a-1 goes away after one more exec; its 6 stay in the Deployment's series.
	c.workloads[0].execs = 6
	expect(`orb8_shape_execs_total{namespace="ns",owner_kind="",owner_name=""} 1` + "\n" + deployment + "13")
	c.workloads = c.workloads[1:]
	expect(`orb8_shape_execs_total{namespace="ns",owner_kind="",owner_name=""} 1` + "\n" + deployment + "13")
	// a-2's counter restarts (its cgroup recreated at the same path).
	c.workloads[0].execs = 2
	expect(`orb8_shape_execs_total{namespace="ns",owner_kind="",owner_name=""} 1` + "\n" + deployment + "15")
	// "new" becomes known as a-... of Deployment a: only what it counts
	// from then on moves.
	owners["ns/new"] = [2]string{"Deployment", "a"}
	defer delete(owners, "ns/new")
	c.workloads[1].execs = 3
	expect(`orb8_shape_execs_total{namespace="ns",owner_kind="",owner_name=""} 1` + "\n" + deployment + "17")
	// Every pod gone: the counts stay for the grace period, then go.
	c.workloads = nil
	expect(`orb8_shape_execs_total{namespace="ns",owner_kind="",owner_name=""} 1` + "\n" + deployment + "17")
	now = now.Add(2 * time.Minute)
	expect(``)
}

// TestShaperHoldsPendingOwners: a pod whose owner is pending (its
// ReplicaSet's Deployment not known yet) is held back, then joins its
// Deployment with all it counted: none of it is left under the ReplicaSet.
func TestShaperHoldsPendingOwners(t *testing.T) {
	c := &shapeCollector{workloads: []shapeWorkload{{w: pod("a-1", "app"), execs: 5}, {w: pod("a-9", "app"), execs: 2}}}
	o := testOwners{"ns/a-1": {"Deployment", "a"}, "ns/a-9": {"pending:ReplicaSet", "a-5d4f8"}}
	w := NewShaper(Shaping{Aggregation: LevelOwner}, o, time.Minute).Wrap(c)
	deployment := `orb8_shape_execs_total{namespace="ns",owner_kind="Deployment",owner_name="a"} `
	if got := lines(scrapeText(t, w), "orb8_shape_execs_total"); got != deployment+"5" {
		t.Errorf("owner pending: got\n%s", got)
	}
	o["ns/a-9"] = [2]string{"Deployment", "a"}
	c.workloads[1].execs = 3
	if got := lines(scrapeText(t, w), "orb8_shape_execs_total"); got != deployment+"8" {
		t.Errorf("owner known: got\n%s", got)
	}
}

func TestShaperOwnerOfDeletedPod(t *testing.T) {
	c := &shapeCollector{workloads: []shapeWorkload{{w: pod("gone", "app"), execs: 5}}}
	o := testOwners{"ns/gone": {"Job", "j"}}
	w := NewShaper(Shaping{Aggregation: LevelOwner}, o, time.Minute).Wrap(c)
	want := `orb8_shape_execs_total{namespace="ns",owner_kind="Job",owner_name="j"} `
	if got := lines(scrapeText(t, w), "orb8_shape_execs_total"); got != want+"5" {
		t.Fatalf("got %s", got)
	}
	delete(o, "ns/gone")
	c.workloads[0].execs = 6
	if got := lines(scrapeText(t, w), "orb8_shape_execs_total"); got != want+"6" {
		t.Errorf("a pod deleted from the API lost its owner: %s", got)
	}
}

func TestShaperFamilySettings(t *testing.T) {
	c := &shapeCollector{workloads: []shapeWorkload{{w: pod("a-1", "app"), execs: 3, slots: []uint64{1, 2, 4}}, {w: pod("a-2", "app"), execs: 1}}}
	enabled := true
	s := Shaping{
		Aggregation: LevelCgroup,
		Disable:     []string{"all"},
		Enable:      []string{"orb8_shape_running"},
		Families: map[string]FamilyShape{
			"orb8_shape_bytes_total":     {Aggregation: "namespace", DropLabels: []string{"direction"}, Enabled: &enabled},
			"orb8_shape_latency_seconds": {Aggregation: "node", Buckets: []float64{4e-6, 1.6e-5}, Enabled: &enabled},
			"orb8_shape_const_seconds":   {Aggregation: "node", Buckets: []float64{0.2}, Enabled: &enabled},
		},
	}
	known := []string{"orb8_shape_execs_total", "orb8_shape_bytes_total", "orb8_shape_running", "orb8_shape_eta_seconds",
		"orb8_shape_latency_seconds", "orb8_shape_const_seconds", "orb8_shape_plain"}
	if err := s.Validate(known); err != nil {
		t.Fatal(err)
	}
	text := scrapeText(t, NewShaper(s, owners, time.Minute).Wrap(c))
	want := `# HELP orb8_shape_bytes_total Counter with labels.
# TYPE orb8_shape_bytes_total counter
orb8_shape_bytes_total{namespace="ns",protocol="tcp"} 12
# HELP orb8_shape_const_seconds client_golang histogram.
# TYPE orb8_shape_const_seconds histogram
orb8_shape_const_seconds_bucket{le="0.2"} 4
orb8_shape_const_seconds_bucket{le="+Inf"} 4
orb8_shape_const_seconds_sum 0.4
orb8_shape_const_seconds_count 4
# HELP orb8_shape_latency_seconds Log2 histogram.
# TYPE orb8_shape_latency_seconds histogram
orb8_shape_latency_seconds_bucket{le="4e-06"} 3
orb8_shape_latency_seconds_bucket{le="1.6e-05"} 7
orb8_shape_latency_seconds_bucket{le="+Inf"} 7
orb8_shape_latency_seconds_sum 0
orb8_shape_latency_seconds_count 7
# HELP orb8_shape_running Gauge.
# TYPE orb8_shape_running gauge
orb8_shape_running{cgroup="/kubepods/a-1/app",container="app",namespace="ns",pod="a-1"} 0
orb8_shape_running{cgroup="/kubepods/a-2/app",container="app",namespace="ns",pod="a-2"} 0
`
	if text != want {
		t.Errorf("got\n%s\nwant\n%s", text, want)
	}
}

func TestShapingValidate(t *testing.T) {
	known := []string{"orb8_shape_execs_total", "orb8_shape_bytes_total", "orb8_shape_latency_seconds", "orb8_shape_plain"}
	for _, tc := range []struct {
		s    Shaping
		want string
	}{
		{Shaping{Disable: []string{"orb8_nope"}}, `--disable-metrics: unknown metric "orb8_nope"`},
		{Shaping{Enable: []string{"all"}}, `--enable-metrics: unknown metric "all"`},
		{Shaping{Families: map[string]FamilyShape{"orb8_nope": {}}}, `unknown metric "orb8_nope"`},
		{Shaping{Families: map[string]FamilyShape{"orb8_shape_execs_total": {Aggregation: "cluster"}}}, `unknown aggregation "cluster"`},
		{Shaping{Families: map[string]FamilyShape{"orb8_shape_bytes_total": {DropLabels: []string{"pod"}}}}, `the family's own labels are direction, protocol`},
		{Shaping{Families: map[string]FamilyShape{"orb8_shape_execs_total": {DropLabels: []string{"x"}}}}, `no labels beyond the workload ones`},
		{Shaping{Families: map[string]FamilyShape{"orb8_shape_execs_total": {Buckets: []float64{1}}}}, `not a histogram`},
		{Shaping{Families: map[string]FamilyShape{"orb8_shape_latency_seconds": {Buckets: []float64{0.001}}}}, `0.001 is not one of the bounds`},
		{Shaping{Families: map[string]FamilyShape{"orb8_shape_latency_seconds": {Buckets: []float64{4e-6, 2e-6}}}}, `increasing`},
		{Shaping{Families: map[string]FamilyShape{"orb8_shape_plain": {Aggregation: "node"}}}, `not a per-workload family`},
	} {
		err := tc.s.Validate(known)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.s, err, tc.want)
		}
	}
}

// TestShaperRegistryPath: the registry (OTLP, protobuf scrapes) gathers
// the shaped series too.
func TestShaperRegistryPath(t *testing.T) {
	c := &shapeCollector{workloads: []shapeWorkload{{w: pod("a-1", "app"), execs: 3}, {w: pod("a-2", "app"), execs: 1}}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewShaper(Shaping{Aggregation: LevelOwner}, owners, time.Minute).Wrap(c))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "orb8_shape_execs_total" {
			continue
		}
		if len(f.Metric) != 1 || f.Metric[0].GetCounter().GetValue() != 4 || len(f.Metric[0].Label) != 3 {
			t.Errorf("got %v", f.Metric)
		}
		return
	}
	t.Error("orb8_shape_execs_total missing")
}

// TestShaperHoldsUnnamedPods: a pod's cgroup collected before the index
// names it joins its aggregate once named, with everything it counted; at
// no level is it counted twice.
func TestShaperHoldsUnnamedPods(t *testing.T) {
	path := "/kubepods/besteffort/pod0f4e8a43-3f1c-4e2a-9a53-7f0ad3a1c6b2/" + strings.Repeat("ab", 32)
	c := &shapeCollector{workloads: []shapeWorkload{{w: cgroup.Workload{Path: path}, execs: 3}, {w: pod("b-1", "db"), execs: 1}}}
	o := testOwners{"ns/b-1": {"StatefulSet", "b"}}
	owner := NewShaper(Shaping{Aggregation: LevelOwner}, o, time.Minute).Wrap(c)
	node := NewShaper(Shaping{Aggregation: LevelNode}, o, time.Minute).Wrap(c)
	expect := func(w prometheus.Collector, want string) {
		t.Helper()
		if got := lines(scrapeText(t, w), "orb8_shape_execs_total"); got != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
	}
	expect(owner, `orb8_shape_execs_total{namespace="ns",owner_kind="StatefulSet",owner_name="b"} 1`)
	expect(node, `orb8_shape_execs_total 1`)
	c.workloads[0].w = cgroup.Workload{Namespace: "ns", Pod: "a-1", Container: "app", Path: path}
	c.workloads[0].execs = 4
	o["ns/a-1"] = [2]string{"Deployment", "a"}
	expect(owner, `orb8_shape_execs_total{namespace="ns",owner_kind="Deployment",owner_name="a"} 4`+"\n"+
		`orb8_shape_execs_total{namespace="ns",owner_kind="StatefulSet",owner_name="b"} 1`)
	expect(node, `orb8_shape_execs_total 5`)
}

// panicky sends its workloads' series, then panics when told to.
type panicky struct {
	shapeCollector
	panic bool
}

func (p *panicky) Collect(ch chan<- prometheus.Metric) {
	p.shapeCollector.Collect(ch)
	if p.panic {
		panic("collector failed")
	}
}

// A collector that panics is reported by the registry, and the next
// collection counts as if the failed one never happened.
func TestShaperSurvivesAPanickingCollector(t *testing.T) {
	c := &panicky{shapeCollector: shapeCollector{workloads: []shapeWorkload{{w: pod("a-1", "app"), execs: 2}, {w: pod("a-2", "app"), execs: 3}}}}
	reg := prometheus.NewRegistry()
	sh := NewShaper(Shaping{Aggregation: LevelNode}, owners, time.Minute)
	reg.MustRegister(sh.Wrap(c))
	gather := func() (float64, error) {
		families, err := reg.Gather()
		for _, f := range families {
			if f.GetName() == "orb8_shape_execs_total" {
				return f.Metric[0].GetCounter().GetValue(), err
			}
		}
		return -1, err
	}
	if v, err := gather(); v != 5 || err != nil {
		t.Fatalf("got %v, %v", v, err)
	}
	c.panic = true
	c.workloads[0].execs = 4
	if _, err := gather(); err == nil || !strings.Contains(err.Error(), "collector failed") {
		t.Fatalf("panic not reported: %v", err)
	}
	sh.Settle() // survives it too
	c.panic = false
	c.workloads = c.workloads[1:]
	for range 2 {
		if v, err := gather(); v != 7 || err != nil {
			t.Errorf("after the panic: got %v, %v; want a-1's last 4 and a-2's 3", v, err)
		}
	}
}

// TestShaperTakesRowsAsSamples: rows handed to a shaper whole (Rows), from
// a workload or from its labels made beforehand (RowOf), come out exactly
// as the same series sent one by one, at every level and through
// workloads ending, restarting, being named, and moving to another owner;
// and unshaped (the registry, a cgroup-level scrape), rows are the very
// samples.
func TestShaperTakesRowsAsSamples(t *testing.T) {
	path := "/kubepods/besteffort/pod0f4e8a43-3f1c-4e2a-9a53-7f0ad3a1c6b2/" + strings.Repeat("ab", 32)
	steps := [][]shapeWorkload{
		{{w: pod("a-1", "app"), execs: 5, running: 1, eta: 3, slots: []uint64{1, 2}}, {w: pod("a-2", "app"), execs: 7, eta: 9},
			{w: pod("x-1", "app"), execs: 1}, {w: cgroup.Workload{Path: path}, execs: 2, running: 4},
			{w: cgroup.Workload{Path: "/system.slice/sshd.service"}, execs: 16, running: 3, eta: 60, slots: []uint64{0, 0, 5}}},
		{{w: pod("a-1", "app"), execs: 6, running: 2, eta: 4, slots: []uint64{1, 3}}, {w: pod("a-2", "app"), execs: 8, eta: 9},
			{w: pod("x-1", "app"), execs: 4}, {w: cgroup.Workload{Namespace: "ns", Pod: "b-1", Container: "db", Path: path}, execs: 3},
			{w: cgroup.Workload{Path: "/system.slice/sshd.service"}, execs: 17, running: 3, eta: 60, slots: []uint64{0, 0, 6}}},
		{{w: pod("a-2", "app"), execs: 2, eta: 1}, {w: pod("x-1", "app"), execs: 5},
			{w: cgroup.Workload{Path: "/system.slice/sshd.service"}, execs: 18, slots: []uint64{0, 1, 6}}},
	}
	for _, level := range Levels() {
		// Owners that say when they change (kube.Index) and owners that
		// do not (version 0).
		for _, versioned := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/versioned=%v", level, versioned), func(t *testing.T) {
				testRowsAsSamples(t, level, versioned, steps)
			})
		}
	}
	// Through a registry: rows go as samples on the channel.
	samples := &shapeCollector{workloads: steps[0]}
	for _, labelled := range []bool{false, true} {
		rows := &shapeCollector{workloads: steps[0], rows: true, labelled: labelled}
		if got, want := gatherText(t, rows), gatherText(t, samples); got != want {
			t.Errorf("through a registry, labelled %v: rows gave\n%s\nsamples\n%s", labelled, got, want)
		}
	}
}

func testRowsAsSamples(t *testing.T, level string, versioned bool, steps [][]shapeWorkload) {
	l, _ := ParseLevel(level)
	o := &changingOwners{testOwners: testOwners{"ns/a-1": {"Deployment", "a"}, "ns/a-2": {"Deployment", "a"}, "ns/b-1": {"StatefulSet", "b"}}}
	if versioned {
		o.version = 1
	}
	samples, rows, labelled := &shapeCollector{}, &shapeCollector{rows: true}, &shapeCollector{rows: true, labelled: true}
	s := Shaping{Aggregation: l, Families: map[string]FamilyShape{"orb8_shape_bytes_total": {DropLabels: []string{"protocol"}}}}
	bySamples := NewShaper(s, o, time.Minute).Wrap(samples)
	byRows := NewShaper(s, o, time.Minute).Wrap(rows)
	byLabelled := NewShaper(s, o, time.Minute).Wrap(labelled)
	for i, step := range steps {
		samples.workloads, rows.workloads, labelled.workloads = step, step, step
		if i == 2 {
			o.testOwners["ns/x-1"] = [2]string{"Job", "x"}
			if versioned {
				o.version++
			}
		}
		want := scrapeText(t, bySamples)
		if got := scrapeText(t, byRows); got != want {
			t.Errorf("step %d: rows gave\n%s\nsamples\n%s", i, got, want)
		}
		if got := scrapeText(t, byLabelled); got != want {
			t.Errorf("step %d: rows of labels gave\n%s\nsamples\n%s", i, got, want)
		}
	}
}

// gatherFamilies gathers c through a (pedantic) registry, as a protobuf
// scrape and OTLP do.
func gatherFamilies(t *testing.T, c prometheus.Collector) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return families
}

// gatherText is c gathered by a registry, in the text format.
func gatherText(t *testing.T, c prometheus.Collector) string {
	t.Helper()
	var buf bytes.Buffer
	for _, f := range gatherFamilies(t, c) {
		if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

// changingOwners are testOwners whose Version the test sets.
type changingOwners struct {
	testOwners
	version uint64
}

func (o *changingOwners) Version() uint64 { return o.version }

// TestShaperAsksOwnersOncePerVersion: an owner answer is kept while the
// owners' version stays, and asked again once it changes; a pod whose
// owner is pending is asked about again at every collection (its answer
// may come without a change of version), held back until then.
func TestShaperAsksOwnersOncePerVersion(t *testing.T) {
	c := &shapeCollector{workloads: []shapeWorkload{{w: pod("p-1", "app"), execs: 2}, {w: pod("q-1", "app"), execs: 4}}, rows: true}
	o := &changingOwners{testOwners: testOwners{"ns/p-1": {"Deployment", "old"}, "ns/q-1": {"pending:ReplicaSet", "q-7c9"}}, version: 1}
	w := NewShaper(Shaping{Aggregation: LevelOwner}, o, time.Minute).Wrap(c)
	expect := func(want string) {
		t.Helper()
		if got := lines(scrapeText(t, w), "orb8_shape_execs_total"); got != want {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
	}
	expect(`orb8_shape_execs_total{namespace="ns",owner_kind="Deployment",owner_name="old"} 2`)
	o.testOwners["ns/q-1"] = [2]string{"Deployment", "q"}
	c.workloads[1].execs = 5
	q := "\n" + `orb8_shape_execs_total{namespace="ns",owner_kind="Deployment",owner_name="q"} 5`
	expect(`orb8_shape_execs_total{namespace="ns",owner_kind="Deployment",owner_name="old"} 2` + q)
	o.testOwners["ns/p-1"] = [2]string{"StatefulSet", "new"}
	expect(`orb8_shape_execs_total{namespace="ns",owner_kind="Deployment",owner_name="old"} 2` + q)
	o.version = 2
	c.workloads[0].execs = 3
	expect(`orb8_shape_execs_total{namespace="ns",owner_kind="Deployment",owner_name="old"} 2` + q + "\n" +
		`orb8_shape_execs_total{namespace="ns",owner_kind="StatefulSet",owner_name="new"} 1`)
}

var (
	gaugeSet   Set
	shapeQueue = gaugeSet.Workload("orb8_shape_queue", "Gauge with labels.", "direction", "kind")
	shapeDepth = gaugeSet.Workload("orb8_shape_depth", "Gauge.")
)

// queueCollector sends a gauge of two extra labels for two cgroups of the
// same (empty) names but skip, as samples or through rows; the second
// cgroup's row starts with a gauge of another family.
type queueCollector struct {
	rows  bool
	depth float64
	skip  string
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { gaugeSet.Describe(ch) }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	rows := RowsTo(ch)
	for i, path := range []string{"/a", "/b"} {
		if path == c.skip {
			continue
		}
		w := cgroup.Workload{Path: path}
		r := rows.Row(w)
		if i == 1 {
			if c.rows {
				r.Send(shapeDepth, prometheus.GaugeValue, c.depth)
			} else {
				ch <- Metric(shapeDepth, prometheus.GaugeValue, c.depth, w)
			}
		}
		for j, direction := range []string{"in", "out"} {
			for k, kind := range []string{"x", "y"} {
				v := c.depth + float64(100*i+10*j+k)
				if c.rows {
					r.Send(shapeQueue, prometheus.GaugeValue, v, direction, kind)
				} else {
					ch <- Metric(shapeQueue, prometheus.GaugeValue, v, w, direction, kind)
				}
			}
		}
		r.Done()
	}
}

// TestShaperKeepsGaugeRowsApart: gauge series that rows take to their
// aggregates by their names stay apart by cgroup and extra labels where
// the level keeps them, collection after collection, and come back after
// a collection without them, as samples do; and a row whose series are
// not at the places of the last row's goes to the right families.
func TestShaperKeepsGaugeRowsApart(t *testing.T) {
	s := Shaping{Families: map[string]FamilyShape{"orb8_shape_queue": {DropLabels: []string{"kind"}}}}
	samples, rows := &queueCollector{}, &queueCollector{rows: true}
	bySamples, byRows := NewShaper(s, nil, time.Minute).Wrap(samples), NewShaper(s, nil, time.Minute).Wrap(rows)
	for _, step := range []struct {
		depth  float64
		skip   string
		series int
	}{{1, "", 4}, {2, "", 4}, {3, "/b", 2}, {4, "", 4}} {
		samples.depth, rows.depth, samples.skip, rows.skip = step.depth, step.depth, step.skip, step.skip
		want := scrapeText(t, bySamples)
		if got := scrapeText(t, byRows); got != want {
			t.Errorf("depth %v: rows gave\n%s\nsamples\n%s", step.depth, got, want)
		}
		if n := strings.Count(want, "orb8_shape_queue{"); n != step.series {
			t.Errorf("depth %v: %d series, want %d (per cgroup, 2 directions):\n%s", step.depth, n, step.series, want)
		}
	}
}
