package tpu

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	tpupb "github.com/orb8/orb8/api/tpu_info/proto"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

func stringAttr(s string) *tpupb.Attribute {
	return &tpupb.Attribute{Key: "device-id", Value: &tpupb.AttrValue{Attr: &tpupb.AttrValue_StringAttr{StringAttr: s}}}
}

func TestReadingsOfHostilePoints(t *testing.T) {
	nested := &tpupb.Attribute{Value: &tpupb.AttrValue{Attr: &tpupb.AttrValue_KvlistAttr{KvlistAttr: &tpupb.KeyValueList{
		Attributes: []*tpupb.Attribute{ordinalAttr("3", "TensorCore")}, // a list in a list: not libtpu's
	}}}}
	m := tpuMetric("hostile",
		intPoint(deviceAttr(2), 5),
		intPoint(deviceAttr(-1), 1),
		intPoint(deviceAttr(maxDevice), 1),
		intPoint(stringAttr("abc"), 1),
		intPoint(stringAttr("123456"), 1),
		intPoint(stringAttr("0x1"), 1),
		intPoint(stringAttr("007"), 9), // digits: device 7
		intPoint(nested, 1),
		intPoint(nil, 1),
		doublePoint(deviceAttr(4), math.NaN()),
		doublePoint(deviceAttr(4), math.Inf(1)),
		&tpupb.Metric{Attribute: deviceAttr(5), Measure: &tpupb.Metric_Gauge{Gauge: &tpupb.Gauge{Value: &tpupb.Gauge_AsString{AsString: "full"}}}},
		&tpupb.Metric{Attribute: deviceAttr(5), Measure: &tpupb.Metric_Gauge{Gauge: &tpupb.Gauge{}}},
		&tpupb.Metric{Attribute: deviceAttr(6), Measure: &tpupb.Metric_Counter{Counter: &tpupb.Counter{}}}, // not a gauge: passed over
	)
	got, skipped := readings(m)
	want := []reading{{"2", 5}, {"7", 9}}
	if fmt.Sprint(got) != fmt.Sprint(want) || skipped != 11 {
		t.Fatalf("readings = %v, %d skipped; want %v, 11 skipped", got, skipped, want)
	}

	var many []*tpupb.Metric
	for i := range maxPoints + 10 {
		many = append(many, intPoint(deviceAttr(int64(i)), 1))
	}
	got, skipped = readings(tpuMetric("many", many...))
	if len(got) != maxPoints || skipped != 10 {
		t.Fatalf("%d points: %d read, %d skipped; want %d, 10", len(many), len(got), skipped, maxPoints)
	}
}

func TestPollable(t *testing.T) {
	for name, want := range map[string]bool{
		"tpu.runtime.custom.ready":                                       true,
		"megascale.grpc_tcp_min_rtt.microsecond.cumulative.distribution": false,
		"hlo.execution.timing.distribution.microseconds":                 false,
		"":                                   false,
		"bad\"name":                          false,
		"new\nline":                          false,
		"caf\u00e9":                          false,
		strings.Repeat("a", maxMetricName+1): false,
		"/jax/orbax/write/gbytes":            true,
	} {
		if got := pollable(name); got != want {
			t.Errorf("pollable(%q) = %v, want %v", name, got, want)
		}
	}
}

// Whatever a workload answers, the probe keeps at most maxPoints numbers
// per metric, with device ids it made itself.
func FuzzReadings(f *testing.F) {
	fake, _ := v5eHost()
	for _, m := range fake.metrics {
		b, _ := proto.Marshal(&tpupb.MetricResponse{Metric: m})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var resp tpupb.MetricResponse
		if proto.Unmarshal(b, &resp) != nil {
			return
		}
		rs, _ := readings(resp.GetMetric())
		if len(rs) > maxPoints {
			t.Fatalf("%d readings", len(rs))
		}
		for _, r := range rs {
			n, err := strconv.Atoi(r.device)
			if err != nil || n < 0 || n >= maxDevice || strconv.Itoa(n) != r.device {
				t.Fatalf("device %q", r.device)
			}
			if math.IsNaN(r.value) || math.IsInf(r.value, 0) {
				t.Fatalf("value %v", r.value)
			}
		}
	})
}

// hostileLibtpu answers with too much: a response past maxMessage, and
// more metric names than maxMetrics, some unfit for a label.
type hostileLibtpu struct{ fakeLibtpu }

func (h *hostileLibtpu) GetRuntimeMetric(ctx context.Context, req *tpupb.MetricRequest) (*tpupb.MetricResponse, error) {
	if req.GetMetricName() == "tpu.runtime.hbm.memory.usage.bytes" {
		return &tpupb.MetricResponse{Metric: &tpupb.TPUMetric{Name: "huge", Description: strings.Repeat("x", 2*maxMessage)}}, nil
	}
	return &tpupb.MetricResponse{Metric: tpuMetric(req.GetMetricName(), intPoint(deviceAttr(0), 1))}, nil
}

// A hostile workload's service: the oversized answer is refused and
// counted, the rest of the workload's metrics still read, and no more
// than maxMetrics unknown names polled.
func TestHostileService(t *testing.T) {
	testutil.RequireRoot(t) // joins a network namespace (its own)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hostileLibtpu{}
	h.listed = []string{"tpu.runtime.hbm.memory.usage.bytes", "tpu.runtime.hbm.memory.total.bytes", "bad\"label", "caf\u00e9"}
	for i := range maxMetrics + 5 {
		h.listed = append(h.listed, fmt.Sprintf("vendor.gauge.%d", i))
	}
	serve(t, h, l)
	ns, ok := netnsOf("/proc", uint32(os.Getpid()))
	if !ok {
		t.Fatal("own network namespace")
	}
	p := newProbe(DefaultOptions(), "", "/proc", "")
	p.env = probe.Env{Log: slog.Default()}
	t.Cleanup(func() {
		for _, c := range p.conns {
			c.Close()
		}
	})
	ep := endpoint{netns: ns, pid: uint32(os.Getpid()), addr: netip.MustParseAddrPort(l.Addr().String())}
	got := p.pollEndpoint(context.Background(), ep)
	if p.errors[reasonTooLarge] != 1 || p.errors[reasonMetricsFull] != 5 {
		t.Fatalf("errors %v, want 1 too_large and 5 metrics_full", p.errors)
	}
	others := 0
	for v := range got {
		if v.desc == otherDesc {
			others++
			if !strings.HasPrefix(v.metric, "vendor.gauge.") {
				t.Fatalf("polled %q", v.metric)
			}
		}
	}
	if others != maxMetrics || got[value{desc: memTotalDesc, device: "0"}] != 1 {
		t.Fatalf("%d other metrics (want %d), total %v: %v", others, maxMetrics, got[value{desc: memTotalDesc, device: "0"}], got)
	}
}
