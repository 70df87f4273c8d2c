package http

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe/uprobe"
)

// HTTPS through OpenSSL-compatible libraries (tls.bpf.h): the plaintext of
// SSL_write and SSL_read, hooked in every libssl.so* file a process maps,
// feeds the same tracker as TCP packets, a connection being a process's SSL
// object.

// tlsFeature is what the TLS programs give, where they do not load.
const tlsFeature = "HTTPS through OpenSSL-compatible libssl (uprobes on SSL_read/SSL_write)"

// tlsFunctions are the hooked functions with their attach cookies.
var tlsFunctions = []struct {
	symbol string
	cookie httpTlsCookie
}{
	{"SSL_write", 0},
	{"SSL_write_ex", httpTlsCookieTLS_EX},
	{"SSL_read", httpTlsCookieTLS_READ},
	{"SSL_read_ex", httpTlsCookieTLS_READ | httpTlsCookieTLS_EX},
}

// maxTLSLibraries bounds the libssl files hooked at once (each container
// image brings its own copy).
const maxTLSLibraries = 256

// isLibSSL: libssl.so, libssl.so.3, libssl.so.1.1 (not NSS's libssl3.so).
func isLibSSL(path string) bool {
	base := filepath.Base(path)
	return base == "libssl.so" || strings.HasPrefix(base, "libssl.so.")
}

// tlsHooks finds libssl files in processes' mappings and hooks each file
// once: uprobes belong to the file, so every process that maps it, now or
// later, is traced.
type tlsHooks struct {
	enter, ret *ebpf.Program
	log        *slog.Logger
	proc       string

	mu    sync.Mutex
	files map[uprobe.FileID][]link.Link // nil links: being hooked, or hooking failed
	full  bool                          // said once in the log
}

// scanPID hooks the libssl files a process maps and returns them.
func (h *tlsHooks) scanPID(pid int) []uprobe.FileID {
	f, err := os.Open(filepath.Join(h.proc, strconv.Itoa(pid), "maps"))
	if err != nil {
		return nil // exited
	}
	defer f.Close()
	mapped, err := uprobe.MappedFiles(f, []string{"/libssl.so"}, isLibSSL)
	if err != nil {
		h.log.Debug("read process mappings", "pid", pid, "err", err)
		return nil
	}
	ids := make([]uprobe.FileID, 0, len(mapped))
	for _, m := range mapped {
		h.ensure(pid, m)
		ids = append(ids, m.ID)
	}
	return ids
}

// scanAll scans every process, then unhooks files no process maps.
func (h *tlsHooks) scanAll() {
	mapped, err := uprobe.MappedByAll(h.proc, h.scanPID)
	if err != nil {
		h.log.Warn("list processes", "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, links := range h.files {
		if !mapped[id] {
			closeLinks(links)
			delete(h.files, id)
		}
	}
}

// ensure hooks a mapped file unless it is already. The file is reserved
// first and opened, parsed and attached outside the lock.
func (h *tlsHooks) ensure(pid int, m uprobe.Mapping) {
	h.mu.Lock()
	if _, ok := h.files[m.ID]; ok {
		h.mu.Unlock()
		return
	}
	if len(h.files) >= maxTLSLibraries {
		if !h.full {
			h.full = true
			h.log.Warn("libssl not hooked: too many distinct library files hooked", "path", m.Path, "max", maxTLSLibraries)
		}
		h.mu.Unlock()
		return
	}
	h.files[m.ID] = nil
	h.mu.Unlock()

	links, slow, err := h.attach(pid, m)
	if err != nil {
		h.log.Warn("hook libssl", "path", m.Path, "pid", pid, "err", err)
	} else {
		h.log.Info("hooked libssl", "path", m.Path, "pid", pid, "uprobes", len(links), "single_stepped", slow)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cur, ok := h.files[m.ID]
	switch {
	case !ok || cur != nil: // unhooked meanwhile
		closeLinks(links)
	case links != nil:
		h.files[m.ID] = links
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, errUnreachable):
		delete(h.files, m.ID) // another process may reach it later
	}
	// Else kept with no links: a broken file is not parsed on every scan.
}

var errUnreachable = errors.New("library file not reachable")

// attach opens the file as the process maps it and puts an entry and a
// return uprobe on each hooked function it defines; slow lists the functions
// whose first instruction the kernel single-steps (~20 us a call here, see
// docs/benchmarks.md): a return probe must sit where the return address is
// on top of the stack, at the start or just past an endbr64.
func (h *tlsHooks) attach(pid int, m uprobe.Mapping) (links []link.Link, slow []string, err error) {
	f, err := uprobe.OpenMapped(h.proc, pid, m)
	if err != nil {
		return nil, nil, errors.Join(errUnreachable, err)
	}
	defer f.Close() // the uprobes hold the file themselves
	symbols := make([]string, len(tlsFunctions))
	for i, fn := range tlsFunctions {
		symbols[i] = fn.symbol
	}
	points, err := uprobe.ParseFile(f, symbols)
	if err != nil {
		return nil, nil, err
	}
	if len(points) == 0 {
		return nil, nil, errors.New("no SSL_read or SSL_write found")
	}
	ex, err := link.OpenExecutable(uprobe.FDPath(int(f.Fd())))
	if err != nil {
		return nil, nil, err
	}
	for _, fn := range tlsFunctions {
		pt, ok := points[fn.symbol]
		if !ok {
			continue // the _ex variants came with OpenSSL 1.1.1
		}
		if !pt.Emulated {
			slow = append(slow, fn.symbol)
		}
		opts := &link.UprobeOptions{Address: pt.Offset, Cookie: uint64(fn.cookie)}
		enter, err := ex.Uprobe(fn.symbol, h.enter, opts)
		if err != nil {
			closeLinks(links)
			return nil, nil, err
		}
		ret, err := ex.Uretprobe(fn.symbol, h.ret, opts)
		if err != nil {
			enter.Close()
			closeLinks(links)
			return nil, nil, err
		}
		links = append(links, enter, ret)
	}
	return links, slow, nil
}

// hooked counts the libssl files with uprobes attached.
func (h *tlsHooks) hooked() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, links := range h.files {
		if links != nil {
			n++
		}
	}
	return n
}

func (h *tlsHooks) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, links := range h.files {
		closeLinks(links)
		delete(h.files, id)
	}
}

func closeLinks(links []link.Link) {
	for _, l := range links {
		l.Close()
	}
}

// startTLS hooks the libssl files processes map now, then follows new
// mappings; it leaves TLS off where its programs did not load or the
// options say so.
func (p *Probe) startTLS(ctx context.Context) error {
	if !p.opts.TLS || p.bpf.TlsEnter == nil || p.bpf.TlsReturn == nil || p.bpf.TlsWatchMmap == nil {
		return nil // off (--http-tls=false), or in Objects().Failed with tlsFeature
	}
	watch, err := link.AttachTracing(link.TracingOptions{Program: p.bpf.TlsWatchMmap})
	if err != nil {
		return err
	}
	p.watchMmap = watch
	p.tls = &tlsHooks{enter: p.bpf.TlsEnter, ret: p.bpf.TlsReturn, log: p.env.Log, proc: "/proc", files: map[uprobe.FileID][]link.Link{}}
	rescan := make(chan int, 1024)
	err = p.objs.ReadRing(p.bpf.TlsMmaps, func(raw []byte) {
		if len(raw) < int(unsafe.Sizeof(httpTlsMmapEvent{})) {
			return
		}
		select {
		case rescan <- int((*httpTlsMmapEvent)(unsafe.Pointer(&raw[0])).Tgid):
		default: // the periodic full scan catches up
		}
	})
	if err != nil {
		return err
	}
	if err := p.objs.ReadRing(p.bpf.TlsEvents, p.handleTLS); err != nil {
		return err
	}
	// The mmap hook runs before the first scan, so no mapping falls between.
	p.tls.scanAll()
	ctx, p.stopTLS = context.WithCancel(ctx)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		uprobe.Discover(ctx, rescan, func(pid int) { p.tls.scanPID(pid) }, p.tls.scanAll)
	}()
	return nil
}

// tlsHeaderSize is sizeof(struct tls_header): the captured plaintext follows it.
const tlsHeaderSize = int(unsafe.Sizeof(httpTlsHeader{}))

func (p *Probe) handleTLS(raw []byte) {
	if len(raw) < tlsHeaderSize {
		return
	}
	e := (*httpTlsHeader)(unsafe.Pointer(&raw[0]))
	data := raw[tlsHeaderSize:]
	txs := p.tracker.packet(&packet{
		bootNs:       e.BootNs,
		cgroup:       e.CgroupId,
		cookie:       tlsConnection(e.Tgid, e.Ssl),
		egress:       e.Direction == httpDirectionDIR_EGRESS,
		continuation: e.Segment == httpSegmentSEG_CONTINUATION,
		seq:          e.Offset,
		tls:          true,
		length:       int(e.Len),
		data:         data[:min(int(e.Captured), len(data), int(e.Len))],
		heard:        p.env.Hears(events.KindHTTP),
	})
	p.publish(txs)
}

// tlsConnection is the tracker's key of a process's SSL object: the top bit
// set, which no socket cookie (a counter from 1) reaches, and a 63-bit hash
// of the process and the pointer, which two live connections share with a
// chance of about n²/2⁶⁴ for n connections.
func tlsConnection(tgid uint32, ssl uint64) uint64 {
	// splitmix64's finalizer over both.
	x := ssl ^ uint64(tgid)<<32 ^ uint64(tgid)*0x9e3779b97f4a7c15
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return 1<<63 | x>>1
}
