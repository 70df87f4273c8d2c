package export

import (
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// DroppedMetricName counts series a SeriesCap left out.
const DroppedMetricName = "orb8_series_dropped_total"

// SeriesCap is a Gatherer that passes at most limit series of each metric and
// counts the rest in orb8_series_dropped_total{metric}. The registry sorts a
// metric's series by label values, so the same series are kept scrape after
// scrape and the kept ones do not flap. The cap sits on the gathered output,
// one place for every probe, and /metrics and OTLP see the same capped set.
type SeriesCap struct {
	g     prometheus.Gatherer
	limit int

	mu      sync.Mutex
	dropped map[string]uint64
}

// NewSeriesCap caps g at limit series per metric; limit 0 passes everything.
func NewSeriesCap(g prometheus.Gatherer, limit int) *SeriesCap {
	return &SeriesCap{g: g, limit: limit, dropped: map[string]uint64{}}
}

// Gather implements prometheus.Gatherer.
func (c *SeriesCap) Gather() ([]*dto.MetricFamily, error) {
	families, err := c.g.Gather()
	return c.Cap(families), err
}

// Keep counts what the cap drops of a metric with n series and returns how
// many of them to keep, the first in registry order.
func (c *SeriesCap) Keep(name string, n int) int {
	if c.limit <= 0 || n <= c.limit {
		return n
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropped[name] += uint64(n - c.limit)
	return c.limit
}

// Cap applies the cap to gathered families and adds
// orb8_series_dropped_total once anything was dropped (here or by Keep).
func (c *SeriesCap) Cap(families []*dto.MetricFamily) []*dto.MetricFamily {
	if c.limit <= 0 {
		return families
	}
	for _, f := range families {
		f.Metric = f.Metric[:c.Keep(f.GetName(), len(f.Metric))]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.dropped) == 0 {
		return families
	}
	d := c.droppedFamily()
	at, _ := slices.BinarySearchFunc(families, d.GetName(), func(f *dto.MetricFamily, name string) int {
		return strings.Compare(f.GetName(), name)
	})
	return slices.Insert(families, at, d)
}

// droppedFamily is orb8_series_dropped_total with one series per capped
// metric; every collection that cuts a metric adds what it cut.
func (c *SeriesCap) droppedFamily() *dto.MetricFamily {
	names := make([]string, 0, len(c.dropped))
	for name := range c.dropped {
		names = append(names, name)
	}
	slices.Sort(names)
	f := &dto.MetricFamily{
		Name: proto.String(DroppedMetricName),
		Help: proto.String("Series left out of a collection because their metric reached --max-series-per-metric, summed over collections."),
		Type: dto.MetricType_COUNTER.Enum(),
	}
	for _, name := range names {
		f.Metric = append(f.Metric, &dto.Metric{
			Label:   []*dto.LabelPair{{Name: proto.String("metric"), Value: proto.String(name)}},
			Counter: &dto.Counter{Value: proto.Float64(float64(c.dropped[name]))},
		})
	}
	return f
}
