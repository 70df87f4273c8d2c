// Package insights turns the history of orb8's series, read from Prometheus
// (or anything serving its HTTP query API: Thanos, Mimir, VictoriaMetrics),
// into answers: request recommendations, cost, forecasts and regressions
// after rollouts. It reads history only through the query API, so it works
// on whatever retention the user already runs, and keeps no state.
package insights

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Point is one sample of a series.
type Point struct {
	T time.Time
	V float64
}

// Series is one time series a query returned.
type Series struct {
	Labels map[string]string
	Points []Point
}

// Source answers PromQL queries over a range of time: a Prometheus server
// (Client), or a test's stand-in.
type Source interface {
	// Range evaluates expr at every point of w (Start+Step, ..., End).
	Range(ctx context.Context, expr string, w Window) ([]Series, error)
	// Instant evaluates expr at t.
	Instant(ctx context.Context, expr string, t time.Time) ([]Series, error)
}

// Client is a Source backed by the Prometheus HTTP API at one URL.
type Client struct {
	api promv1.API
	url string
}

// NewClient returns a client of the Prometheus HTTP API at url (e.g.
// http://prometheus:9090). Nothing is dialled until the first query.
func NewClient(url string, timeout time.Duration) (*Client, error) {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("invalid --prometheus %q: want an http:// or https:// URL, e.g. http://prometheus:9090", url)
	}
	c, err := api.NewClient(api.Config{Address: url, Client: &http.Client{Timeout: timeout}})
	if err != nil {
		return nil, fmt.Errorf("invalid --prometheus %q: %w", url, err)
	}
	return &Client{api: promv1.NewAPI(c), url: url}, nil
}

// Range implements Source.
func (c *Client) Range(ctx context.Context, expr string, w Window) ([]Series, error) {
	v, _, _, err := c.api.QueryRange(ctx, expr, promv1.Range{Start: w.Start.Add(w.Step), End: w.End, Step: w.Step})
	if err != nil {
		return nil, c.explain(expr, err)
	}
	return toSeries(v)
}

// Instant implements Source.
func (c *Client) Instant(ctx context.Context, expr string, t time.Time) ([]Series, error) {
	v, _, _, err := c.api.Query(ctx, expr, t)
	if err != nil {
		return nil, c.explain(expr, err)
	}
	return toSeries(v)
}

func (c *Client) explain(expr string, err error) error {
	return fmt.Errorf("prometheus %s: query %s: %w", c.url, expr, err)
}

// toSeries converts a matrix or vector answer; NaN and infinite samples
// (a ratio of zeros) are left out.
func toSeries(v model.Value) ([]Series, error) {
	var out []Series
	switch v := v.(type) {
	case model.Matrix:
		for _, s := range v {
			ser := Series{Labels: labelsOf(s.Metric), Points: make([]Point, 0, len(s.Values))}
			for _, p := range s.Values {
				if f := float64(p.Value); !math.IsNaN(f) && !math.IsInf(f, 0) {
					ser.Points = append(ser.Points, Point{p.Timestamp.Time(), f})
				}
			}
			out = append(out, ser)
		}
	case model.Vector:
		for _, s := range v {
			if f := float64(s.Value); !math.IsNaN(f) && !math.IsInf(f, 0) {
				out = append(out, Series{Labels: labelsOf(s.Metric), Points: []Point{{s.Timestamp.Time(), f}}})
			}
		}
	case *model.Scalar:
		out = append(out, Series{Labels: map[string]string{}, Points: []Point{{v.Timestamp.Time(), float64(v.Value)}}})
	default:
		return nil, fmt.Errorf("unexpected answer type %s", v.Type())
	}
	// Stable order: by label set.
	sort.Slice(out, func(i, j int) bool { return labelKey(out[i].Labels) < labelKey(out[j].Labels) })
	return out, nil
}

func labelsOf(m model.Metric) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = string(v)
	}
	return out
}

func labelKey(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(l[k])
		b.WriteByte(0)
	}
	return b.String()
}

// Window is the stretch of history a command reads, evaluated every Step:
// the points at Start+Step, ..., End each stand for the Step before them.
type Window struct {
	Start, End time.Time
	Step       time.Duration
}

// maxPoints bounds the points per series of a range query (Prometheus
// refuses more than 11,000).
const maxPoints = 5000

// NewWindow is the window of length ending at end, with step at least
// minStep and no more than maxPoints points, rounded up to whole minStep
// multiples so that steps and rate ranges line up.
func NewWindow(end time.Time, length, minStep time.Duration) (Window, error) {
	if length <= 0 {
		return Window{}, fmt.Errorf("invalid --window %s: want a positive duration, e.g. 6h, 7d", length)
	}
	step := minStep
	if n := length / maxPoints; n > step {
		step = (n + minStep - 1) / minStep * minStep
	}
	if step > length {
		return Window{}, fmt.Errorf("invalid --window %s: shorter than one step (%s)", length, step)
	}
	end = end.Truncate(time.Second)
	return Window{Start: end.Add(-length), End: end, Step: step}, nil
}

// Length is the window's duration.
func (w Window) Length() time.Duration { return w.End.Sub(w.Start) }

// promDuration writes d as PromQL does (e.g. 90s, 5m, 1h).
func promDuration(d time.Duration) string { return model.Duration(d).String() }
