package kube

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// An apiGate holds the informers' list and watch calls while the API
// server refuses connections (its process is down: a restart, an upgrade)
// and lets them through as soon as it answers again.
//
// Without it each informer retries on client-go's schedule, 0.8 s doubling
// to 30 s with up to 100% jitter: after an outage of half a minute an
// informer could wait most of another minute before it listed again, and
// pods started meanwhile stayed unnamed. While calls are held, one probe of
// /readyz per gate reaches the server, 250 ms after the refusal and then
// doubling to every 4 s, each delay drawn up to half again as long, so the
// nodes of a cluster come back spread over a probe interval rather than in
// step. Any HTTP answer opens the gate: it only waits for connections to be
// accepted, and what the server then says is client-go's to handle with its
// own backoff, as are timeouts (an address that drops packets).
type apiGate struct {
	serving func(context.Context) bool
	log     *slog.Logger

	mu      sync.Mutex
	open    chan struct{} // closed when the current outage ends; nil outside one
	refusal error         // the refusal that began the current outage
	since   time.Time     // when it began
	ended   time.Time     // when the last one ended
	delay   time.Duration // the last probe interval of the last one
}

const (
	gateFirstProbe = 250 * time.Millisecond
	gateMaxProbe   = 4 * time.Second
	gateProbeLimit = 5 * time.Second
	// An outage that begins this soon after the last one ended goes on
	// probing at the last one's interval: a server that accepts and
	// refuses by turns is not probed four times a second.
	gateFlapping = 30 * time.Second
)

// newAPIGate probes the API server cfg points at, and logs its outages.
func newAPIGate(cfg *rest.Config, log *slog.Logger) (*apiGate, error) {
	c, err := RESTClient(cfg, corev1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	return &apiGate{log: log, serving: func(ctx context.Context) bool {
		ctx, cancel := context.WithTimeout(ctx, gateProbeLimit)
		defer cancel()
		var code int
		c.Get().AbsPath("/readyz").MaxRetries(0).Do(ctx).StatusCode(&code)
		return code != 0
	}}, nil
}

// wait returns once the API server, which refused a call with err, answers
// again, or when ctx ends (false). The first caller of an outage probes,
// with its ctx, for all that wait in it.
func (g *apiGate) wait(ctx context.Context, err error) bool {
	g.mu.Lock()
	open := g.open
	if open == nil {
		open = make(chan struct{})
		g.open, g.refusal, g.since = open, err, time.Now()
		delay := gateFirstProbe
		if time.Since(g.ended) < gateFlapping {
			delay = max(delay, g.delay)
		}
		g.log.Warn("kubernetes API server refuses connections; informers wait for it", "err", err)
		go g.probe(ctx, open, delay)
	}
	g.mu.Unlock()
	select {
	case <-open:
	case <-ctx.Done():
	}
	return ctx.Err() == nil
}

// Refusal is the refusal that began the current outage; nil outside one.
func (g *apiGate) Refusal() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refusal
}

// probe closes open once the server answers, or when ctx ends: the calls
// it held then try again, and a refusal starts a new outage.
func (g *apiGate) probe(ctx context.Context, open chan struct{}, delay time.Duration) {
	for ctx.Err() == nil {
		t := time.NewTimer(delay + rand.N(delay/2))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		if ctx.Err() == nil && g.serving(ctx) {
			g.log.Info("kubernetes API server answers again", "down", time.Since(g.since).Round(time.Millisecond))
			break
		}
		delay = min(2*delay, gateMaxProbe)
	}
	g.mu.Lock()
	g.open, g.refusal, g.ended, g.delay = nil, nil, time.Now(), delay
	g.mu.Unlock()
	close(open)
}

// held is call, waiting out an outage whenever the server refuses it.
func held[T any](g *apiGate, call func(context.Context, metav1.ListOptions) (T, error)) func(context.Context, metav1.ListOptions) (T, error) {
	return func(ctx context.Context, o metav1.ListOptions) (T, error) {
		for {
			v, err := call(ctx, o)
			if err == nil || !utilnet.IsConnectionRefused(err) || !g.wait(ctx, err) {
				return v, err
			}
		}
	}
}

// heldListWatch is the ListWatch of a client's List and Watch, held by g.
func heldListWatch[L runtime.Object](g *apiGate, list func(context.Context, metav1.ListOptions) (L, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) *cache.ListWatch {
	listAny := func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return list(ctx, o) }
	return &cache.ListWatch{
		ListWithContextFunc:  held(g, listAny),
		WatchFuncWithContext: held(g, watchFn),
	}
}
