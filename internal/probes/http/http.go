// Package http is the HTTP probe: every workload's HTTP/1.0 and 1.1
// requests over plaintext TCP and (Options.TLS, --http-tls) over TLS
// through OpenSSL-compatible libssl and Go's crypto/tls, as a server and as
// a client, counted per
// workload by method and status code with the time from the request's first
// byte to the response's first byte, and streamed one request at a time
// (method, path without the query string, status, latency, peer) as events.
//
// The kernel side (http.bpf.c) follows plaintext HTTP/1.x itself (h1.bpf.h):
// a connection whose heads each fit one packet has its requests parsed,
// matched and counted in the kernel (kernel.go reads the counts), and only
// a notable request sends a record. Other connections (heads over several
// packets, pipelining, interim responses, someone listening for events)
// are handed over: the first bytes of every TCP segment that starts or
// continues a head go to a ring buffer, with the socket's cgroup and
// cookie; tls.bpf.h does the same for the plaintext of SSL_write and
// SSL_read, gotls.bpf.h for Go's (*tls.Conn).Write and Read. Their parsing
// and matching live here in Go (parse.go, tracker.go), by the same rules.
package http

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/conntrack"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/tick"
)

// Name is the probe's name in configuration and metrics.
const Name = "http"

// EventKinds are the kinds of event the probe publishes.
var EventKinds = []string{events.KindHTTP}

// Programs: the TCP ones are required; without the TLS ones HTTPS is not
// seen. The programs that follow HTTP/2 frames need bpf_loop (5.17); each
// has a fallback, the same code without them (*_h1), that counts HTTP/1.x
// only where the kernel refuses it.
var Programs = probe.Programs{
	Required: []string{httpProgHttpEgress, httpProgHttpIngress},
	Optional: map[string]string{
		httpProgTlsEnter: tlsFeature, httpProgTlsReturn: tlsFeature, httpProgTlsWatchMmap: tlsFeature,
		httpProgTlsFree:    "HTTP/2 over a libssl connection whose SSL object reuses a freed one's address",
		httpProgGoTlsWrite: goTLSFeature, httpProgGoTlsReadEnter: goTLSFeature, httpProgGoTlsReadReturn: goTLSFeature,
		httpProgGoTlsWatchExec: goTLSFeature,
	},
	Fallback: map[string][]string{
		httpProgHttpEgress: {httpProgHttpEgressH1}, httpProgHttpIngress: {httpProgHttpIngressH1},
		httpProgTlsReturn: {httpProgTlsReturnH1}, httpProgGoTlsWrite: {httpProgGoTlsWriteH1},
		httpProgGoTlsReadReturn: {httpProgGoTlsReadReturnH1},
	},
}

// h2Feature is what the probe runs without where the kernel refuses the
// programs that follow HTTP/2 and their HTTP/1.x-only fallbacks serve.
const h2Feature = "HTTP/2 and gRPC (frames followed with bpf_loop, Linux 5.17)"

// manualPrograms are attached by startTLS, only with Options.TLS.
var manualPrograms = []string{
	httpProgTlsEnter, httpProgTlsReturn, httpProgTlsWatchMmap, httpProgTlsFree,
	httpProgGoTlsWrite, httpProgGoTlsReadEnter, httpProgGoTlsReadReturn, httpProgGoTlsWatchExec,
}

// Probe is the HTTP probe.
type Probe struct {
	cfg     Config
	opts    Options
	objs    *probe.Objects
	bpf     httpObjects
	env     probe.Env
	tracker *tracker
	nat     conntrack.Lazy // the node's table: clients that sent to a Service's address
	tls     *tlsHooks      // nil without TLS
	watches []link.Link    // its mmap and exec reports, attached only with TLS
	// degraded are features off though the probe runs: HTTP/2 where only
	// the fallbacks loaded, HTTPS parts whose programs loaded but did not
	// attach (written by Start only).
	degraded map[string]error
	// tuneSpec adjusts the collection before loading (tests drop programs
	// to force the fallbacks).
	tuneSpec func(*ebpf.CollectionSpec)
	stopTLS  context.CancelFunc
	wg       sync.WaitGroup
	// stopSweep stops the sweep of HTTP/2 streams waiting too long.
	stopSweep func()
}

// New returns an unstarted HTTP probe with the default configuration and
// options.
func New() *Probe { return NewWithOptions(DefaultOptions()) }

// NewWithOptions returns an unstarted HTTP probe with opts.
func NewWithOptions(opts Options) *Probe { return &Probe{cfg: DefaultConfig(), opts: opts} }

// NewWithConfig returns an unstarted HTTP probe with cfg.
func NewWithConfig(cfg Config) *Probe { return &Probe{cfg: cfg, opts: DefaultOptions()} }

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe.
func (p *Probe) Objects() *probe.Objects { return p.objs }

// Start implements probe.Probe.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	spec, err := loadHttp()
	if err != nil {
		return err
	}
	p.env, p.tracker = env, newTracker(p.cfg)
	p.tracker.slowest, p.tracker.giveBack = p.setSlowest, p.giveBack
	p.nat.Log = env.Log
	p.tracker.spans.translate = func(client, server netip.AddrPort) netip.AddrPort {
		return p.nat.Destination(syscall.IPPROTO_TCP, client, server)
	}
	if !p.opts.TLS {
		shrinkTLSMaps(spec)
	}
	if p.tuneSpec != nil {
		p.tuneSpec(spec)
	}
	p.degraded = map[string]error{}
	// The programs that follow HTTP/2, or their HTTP/1.x-only fallbacks.
	objs, refused, err := probe.LoadEither(spec, &p.bpf, probe.LoadOptions{
		Programs:   Programs,
		Manual:     manualPrograms,
		CgroupPath: p.env.CgroupRoot,
	})
	if err != nil {
		return err
	}
	if refused != nil {
		p.degraded[h2Feature] = fmt.Errorf("HTTP/2 not followed, HTTP/1.x only: %w", refused)
	}
	p.objs = objs
	probe.EmitWhile(objs, env.Events, emitKinds)
	if err := objs.ReadRing(p.bpf.Events, p.handle); err != nil {
		p.Close()
		return err
	}
	p.stopSweep = tick.Every(ctx, max(min(h2SweepEvery, p.cfg.H2StreamTimeout/2), time.Millisecond), func(time.Time) {
		if now, ok := bootNow(); ok {
			p.tracker.expireStreams(now)
		}
	})
	if err := p.startTLS(ctx); err != nil {
		p.Close()
		return err
	}
	return nil
}

// loaded is prog, or where it did not load its fallback h1.
func loaded(prog, h1 *ebpf.Program) *ebpf.Program {
	if prog != nil {
		return prog
	}
	return h1
}

// headerSize is sizeof(struct http_header): the captured payload follows it.
const headerSize = int(unsafe.Sizeof(httpHttpHeader{}))

func (p *Probe) handle(raw []byte) {
	if len(raw) < headerSize {
		return
	}
	e := (*httpHttpHeader)(unsafe.Pointer(&raw[0]))
	var kernel *httpH1Request
	if e.Segment == httpSegmentSEG_H1DONE || e.Segment == httpSegmentSEG_H1HANDOVER {
		if kernel = kernelRequest(raw[headerSize:]); kernel == nil {
			return
		}
	}
	data := recordData(raw[headerSize:], e.Captured, e.PayloadLen, e.Segment)
	txs := p.tracker.packet(&packet{
		bootNs:       e.BootNs,
		cgroup:       e.CgroupId,
		cookie:       e.Cookie,
		egress:       e.Direction == httpDirectionDIR_EGRESS,
		continuation: e.Segment == httpSegmentSEG_CONTINUATION,
		h2:           e.Segment == httpSegmentSEG_H2,
		src:          probe.AddrPort(e.Family, &e.Saddr, e.Sport),
		dst:          probe.AddrPort(e.Family, &e.Daddr, e.Dport),
		seq:          e.TcpSeq,
		length:       int(e.PayloadLen),
		data:         data,
		heard:        p.env.Hears(events.KindHTTP),
		kernel:       kernel,
		handOver:     e.Segment == httpSegmentSEG_H1HANDOVER,
	})
	p.publish(txs)
}

// recordData is what follows a record's header: captured bytes of a
// payload of length, or HTTP/2 items (which may outnumber its bytes).
func recordData(data []byte, captured uint16, length uint32, seg httpSegment) []byte {
	data = data[:min(int(captured), len(data))]
	if seg != httpSegmentSEG_H2 {
		data = data[:min(len(data), int(length))]
	}
	return data
}

// publish streams finished requests as events.
func (p *Probe) publish(txs []transaction) {
	for i := range txs {
		detail := txs[i].http
		p.env.PublishAt(txs[i].cgroup, txs[i].bootNs, events.Event{Kind: events.KindHTTP, HTTP: &detail})
	}
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	if p.stopSweep != nil {
		p.stopSweep()
	}
	if p.stopTLS != nil {
		p.stopTLS()
		p.wg.Wait()
	}
	if p.tls != nil {
		p.tls.close()
	}
	closeLinks(p.watches)
	err := probe.Release(&p.objs) // stops the ring readers, the table's users
	p.nat.Close()
	return err
}

// h2SweepEvery is how often HTTP/2 streams that waited longer than
// Config.H2StreamTimeout are given up (twice per timeout if shorter).
const h2SweepEvery = 10 * time.Second

// bootNow is the time on CLOCK_BOOTTIME, the records' clock.
func bootNow() (uint64, bool) {
	var now unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &now) != nil {
		return 0, false
	}
	return uint64(now.Nano()), true
}

// Forget implements probe.Forgetter.
func (p *Probe) Forget(ids []uint64) {
	if p.tracker != nil {
		p.tracker.forget(ids)
		p.forgetKernel(ids)
	}
}
