// Package http is the HTTP probe: every workload's HTTP/1.0 and 1.1
// requests over plaintext TCP and (Options.TLS, --http-tls) over TLS
// through OpenSSL-compatible libssl and Go's crypto/tls, as a server and as
// a client, counted per
// workload by method and status code with the time from the request's first
// byte to the response's first byte, and streamed one request at a time
// (method, path without the query string, status, latency, peer) as events.
//
// The kernel side (http.bpf.c) copies the first bytes of every TCP segment
// that starts an HTTP/1.x head (and of the segments that continue a head
// split over several) into a ring buffer, with the socket's cgroup and
// cookie; tls.bpf.h does the same for the plaintext of SSL_write and
// SSL_read, gotls.bpf.h for Go's (*tls.Conn).Write and Read. Parsing and matching responses to requests live here in Go.
package http

import (
	"context"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"github.com/cilium/ebpf/link"

	"github.com/orb8/orb8/internal/conntrack"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
)

// Name is the probe's name in configuration and metrics.
const Name = "http"

// EventKinds are the kinds of event the probe publishes.
var EventKinds = []string{events.KindHTTP}

// Programs: the TCP ones are required; without the TLS ones HTTPS is not
// seen.
var Programs = probe.Programs{
	Required: []string{httpProgHttpEgress, httpProgHttpIngress},
	Optional: map[string]string{
		httpProgTlsEnter: tlsFeature, httpProgTlsReturn: tlsFeature, httpProgTlsWatchMmap: tlsFeature,
		httpProgGoTlsWrite: goTLSFeature, httpProgGoTlsReadEnter: goTLSFeature, httpProgGoTlsReadReturn: goTLSFeature,
		httpProgGoTlsWatchExec: goTLSFeature,
	},
}

// manualPrograms are attached by startTLS, only with Options.TLS.
var manualPrograms = []string{
	httpProgTlsEnter, httpProgTlsReturn, httpProgTlsWatchMmap,
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
	// degraded are HTTPS parts off though their programs loaded (written by
	// Start only).
	degraded map[string]error
	stopTLS  context.CancelFunc
	wg       sync.WaitGroup
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
	p.nat.Log = env.Log
	p.tracker.spans.translate = func(client, server netip.AddrPort) netip.AddrPort {
		return p.nat.Destination(syscall.IPPROTO_TCP, client, server)
	}
	if !p.opts.TLS {
		shrinkTLSMaps(spec)
	}
	objs, err := probe.Load(spec, &p.bpf, probe.LoadOptions{
		Programs:   Programs,
		Manual:     manualPrograms,
		CgroupPath: env.CgroupRoot,
	})
	if err != nil {
		return err
	}
	p.objs = objs
	if err := objs.ReadRing(p.bpf.Events, p.handle); err != nil {
		p.Close()
		return err
	}
	if err := p.startTLS(ctx); err != nil {
		p.Close()
		return err
	}
	return nil
}

// headerSize is sizeof(struct http_header): the captured payload follows it.
const headerSize = int(unsafe.Sizeof(httpHttpHeader{}))

func (p *Probe) handle(raw []byte) {
	if len(raw) < headerSize {
		return
	}
	e := (*httpHttpHeader)(unsafe.Pointer(&raw[0]))
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

// Forget implements probe.Forgetter.
func (p *Probe) Forget(ids []uint64) {
	if p.tracker != nil {
		p.tracker.forget(ids)
	}
}
