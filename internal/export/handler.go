package export

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/orb8/orb8/internal/series"
)

// offeredEncodings are what /metrics compresses with, on either path.
var offeredEncodings = []promhttp.Compression{promhttp.Identity, promhttp.Gzip}

// gzipLevel: the exposition is so repetitive that the fastest level
// compresses 5,000 workloads' 3.4 MB to 108 kB against the default level's
// 106 kB, at a third of the CPU (docs/benchmarks.md, Metrics export); the
// klauspost encoder does it in half the standard library's time.
const gzipLevel = gzip.BestSpeed

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzipLevel)
	return w
}}

// MetricsHandler serves /metrics for collectors, the ones registered in the
// registry that c caps. A scrape that takes the text format (Prometheus
// 2.x and 3.x without native histograms) is written by series.Exposition,
// per-workload series straight from what the probes collected; any other
// format, a name[] filter, or a collection the exposition leaves to the
// registry is served by promhttp over c. Both give the same bytes. With a
// cluster name every series of either path carries cluster=<name>.
func MetricsHandler(collectors func() []prometheus.Collector, c *SeriesCap, cluster string) http.Handler {
	var g prometheus.Gatherer = c
	if cluster != "" {
		g = clusterLabelled{c, cluster}
	}
	viaRegistry := promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError, OfferedCompressions: offeredEncodings})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...)
		if format.FormatType() != expfmt.TypeTextPlain || r.URL.Query().Has("name[]") {
			viaRegistry.ServeHTTP(w, r)
			return
		}
		e, err := series.Gather(collectors())
		if errors.Is(err, series.ErrUseRegistry) {
			viaRegistry.ServeHTTP(w, r)
			return
		}
		e.Cap(c.Keep)
		e.Rest = c.Cap(e.Rest)
		if cluster != "" {
			err = errors.Join(err, e.AddLabel(ClusterLabel, cluster))
		}
		if err != nil && e.Empty() {
			http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Add("Vary", "Accept")
		h.Add("Vary", "Accept-Encoding")
		h.Set("Content-Type", string(format))
		out := io.Writer(w)
		if wantsGzip(r.Header) {
			h.Set("Content-Encoding", "gzip")
			gz := gzipWriters.Get().(*gzip.Writer)
			gz.Reset(w)
			defer func() {
				_ = gz.Close()
				gz.Reset(io.Discard) // the pool keeps no response writer
				gzipWriters.Put(gz)
			}()
			out = gz
		}
		_ = e.WriteText(out, format) // the client went away, or a family failed as under promhttp
	})
}

// wantsGzip chooses between identity and gzip as promhttp does: gzip when
// the highest q-value given to gzip (or *) beats the one given to
// identity (or *); no Accept-Encoding means identity.
func wantsGzip(h http.Header) bool {
	best := map[string]float64{"identity": -1, "gzip": -1}
	for _, field := range h.Values("Accept-Encoding") {
		for _, spec := range strings.Split(field, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(spec), ";")
			q := 1.0
			if p := strings.TrimSpace(params); p != "" {
				v, ok := strings.CutPrefix(p, "q=")
				parsed, err := strconv.ParseFloat(v, 64)
				if !ok || err != nil || parsed < 0 || parsed > 1 {
					continue
				}
				q = parsed
			}
			for name := range best {
				if coding == name || coding == "*" {
					best[name] = max(best[name], q)
				}
			}
		}
	}
	return best["gzip"] > best["identity"] && best["gzip"] > 0
}
