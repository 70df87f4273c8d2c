package agent

import (
	"context"
	"os"
	"slices"
	"time"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/export"
	"github.com/orb8/orb8/internal/probe"
	httpprobe "github.com/orb8/orb8/internal/probes/http"
)

// spanEventBuffer is how many http events wait for the span exporter at
// most; past it the bus drops them (counted in orb8_spans_missed_total).
const spanEventBuffer = 4096

// startTraces sends a span of every HTTP request to --otlp-traces-endpoint
// until ctx ends, then sends what waits. The agent's own requests (its
// OTLP/HTTP exports among them) make none: each export would otherwise make
// a span to export.
func (a *Agent) startTraces(ctx context.Context) {
	if a.cfg.OTLPTracesEndpoint == "" {
		return
	}
	if !slices.ContainsFunc(a.probes, func(p *runningProbe) bool { return p.Name() == httpprobe.Name }) {
		a.log.Error("no spans over OTLP: --otlp-traces-endpoint needs the http probe (--probes default,http)")
		return
	}
	o := a.otlp()
	o.Endpoint = a.cfg.OTLPTracesEndpoint
	traces, err := export.StartTraces(ctx, o, a.log)
	if err != nil {
		a.log.Error("no spans over OTLP", "err", err)
		return
	}
	self, _ := probe.PidCgroup("/proc", a.hierarchy.Unified, uint32(os.Getpid()))
	span := func(e *events.Event) {
		if e.Workload.ID != self {
			traces.Span(e)
		}
	}
	sub := a.follow(ctx, []string{events.KindHTTP}, spanEventBuffer, span, func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := traces.Shutdown(flushCtx); err != nil {
			a.log.Warn("otlp spans not all sent at shutdown", "err", err)
		}
	})
	missed := func() uint64 { return sub.Dropped() + traces.Missed() }
	a.spansMissed.Store(&missed)
}
