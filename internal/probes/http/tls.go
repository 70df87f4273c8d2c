package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe/uprobe"
	"github.com/orb8/orb8/internal/tick"
)

// HTTPS through OpenSSL-compatible libraries (tls.bpf.h): the plaintext of
// SSL_write and SSL_read, hooked in every libssl.so* file a process maps,
// feeds the same tracker as TCP packets, a connection being a process's SSL
// object. Go programs' crypto/tls (gotls.go) feeds it the same way.

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

// maxSkipped bounds the files remembered as having nothing to hook (the
// executables that are no Go programs using crypto/tls), which are then not
// read again while some process maps them.
const maxSkipped = 65536

// isLibSSL: libssl.so, libssl.so.3, libssl.so.1.1 (not NSS's libssl3.so).
func isLibSSL(path string) bool {
	base := filepath.Base(path)
	return base == "libssl.so" || strings.HasPrefix(base, "libssl.so.")
}

// fileSet is the files of one kind hooked, each once: uprobes belong to the
// file, so every process that maps it, now or later, is traced.
type fileSet struct {
	what  string // for the log
	max   int
	files map[uprobe.FileID][]link.Link // nil links: being hooked, or hooking failed
	full  bool                          // said once in the log
	// stamp, if set, tells a file's contents apart when it is rewritten in
	// place (same inode): uprobes keep the instructions they displaced when
	// first installed, so a rewritten file's are stale and must be redone.
	// users, if set, are the processes seen running each file, so that its
	// uprobes go once none runs it (see pruneUsers).
	stamp  func(pid int) int64
	stamps map[uprobe.FileID]int64
	users  map[uprobe.FileID]map[int]bool
	// attach hooks a file a process maps, naming the functions whose probes
	// the kernel single-steps.
	attach func(pid int, m uprobe.Mapping) (links []link.Link, slow []string, err error)
}

// forget unhooks a file.
func (s *fileSet) forget(id uprobe.FileID, links []link.Link) {
	closeLinks(links)
	delete(s.files, id)
	delete(s.stamps, id)
	delete(s.users, id)
}

// pruneUsers unhooks the files of s that no process seen running them runs
// any more, alive(pid, id) telling. An executable can be rewritten in place
// only once no process runs it (ETXTBSY), and uprobes left on it would
// trap the new code at the old offsets with the old instructions: they go
// within a prune's period of its last process's exit.
func (s *fileSet) pruneUsers(alive func(pid int, id uprobe.FileID) bool) {
	for id, pids := range s.users {
		for pid := range pids {
			if !alive(pid, id) {
				delete(pids, pid)
			}
		}
		if links := s.files[id]; len(pids) == 0 && links != nil {
			s.forget(id, links)
		}
	}
}

// runs reports whether process pid runs the executable id.
func (h *tlsHooks) runs(pid int, id uprobe.FileID) bool {
	st, ok := h.exeStat(pid)
	return ok && uint64(st.Dev) == id.Dev && st.Ino == id.Inode
}

// exeStat is the stat of a process's executable; ok is false once it exited.
func (h *tlsHooks) exeStat(pid int) (st unix.Stat_t, ok bool) {
	return st, unix.Stat(filepath.Join(h.proc, strconv.Itoa(pid), "exe"), &st) == nil
}

// pruneExes is pruneUsers of the Go executables.
func (h *tlsHooks) pruneExes() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.exes.pruneUsers(h.runs)
}

// hooked counts the files with uprobes attached.
func (s *fileSet) hooked() int {
	n := 0
	for _, links := range s.files {
		if links != nil {
			n++
		}
	}
	return n
}

// tlsHooks finds the files to hook in processes' mappings: libssl files
// (libs) and Go executables that use crypto/tls (exes, gotls.go).
type tlsHooks struct {
	enter, ret *ebpf.Program // libssl's; nil: libssl not hooked
	free       *ebpf.Program // on SSL_free; nil: not loaded
	goProgs    goTLSPrograms // nil programs: Go executables not hooked
	log        *slog.Logger
	proc       string
	// selfExe is this process's executable, not hooked (its own HTTPS would
	// be counted, and its calls slowed): not even when another process runs it.
	selfExe uprobe.FileID

	mu         sync.Mutex
	libs, exes fileSet
	skipped    map[uprobe.FileID]int64 // files with nothing to hook, by stamp
}

func newTLSHooks(enter, ret, free *ebpf.Program, goProgs goTLSPrograms, log *slog.Logger) *tlsHooks {
	h := &tlsHooks{enter: enter, ret: ret, free: free, goProgs: goProgs, log: log, proc: "/proc", skipped: map[uprobe.FileID]int64{}}
	h.libs = fileSet{what: "libssl", max: maxTLSLibraries, files: map[uprobe.FileID][]link.Link{}, attach: h.attach}
	h.exes = fileSet{what: "Go executable", max: maxGoExecutables, files: map[uprobe.FileID][]link.Link{}, attach: h.attachGo,
		stamp: h.exeStamp, stamps: map[uprobe.FileID]int64{}, users: map[uprobe.FileID]map[int]bool{}}
	if self, err := h.exeMapping(os.Getpid()); err == nil {
		h.selfExe = self.ID
	}
	return h
}

// exeStamp is the change time of a process's executable, in ns (0 when
// unknown): writing to the file changes it.
func (h *tlsHooks) exeStamp(pid int) int64 {
	if st, ok := h.exeStat(pid); ok {
		return st.Ctim.Nano()
	}
	return 0
}

// exeMapping is the mapping of a process's executable.
func (h *tlsHooks) exeMapping(pid int) (uprobe.Mapping, error) {
	exe, err := os.Readlink(filepath.Join(h.proc, strconv.Itoa(pid), "exe"))
	if err != nil {
		return uprobe.Mapping{}, err
	}
	mapped, err := h.mapped(pid, []string{exe}, func(path string) bool { return path == exe })
	if err != nil || len(mapped) != 1 {
		return uprobe.Mapping{}, fmt.Errorf("%s mapped %d times (%v)", exe, len(mapped), err)
	}
	return mapped[0], nil
}

// mapped is uprobe.MappedFiles of a process.
func (h *tlsHooks) mapped(pid int, prefixes []string, match func(path string) bool) ([]uprobe.Mapping, error) {
	f, err := os.Open(filepath.Join(h.proc, strconv.Itoa(pid), "maps"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return uprobe.MappedFiles(f, prefixes, match)
}

// scanPID hooks the libssl files a process maps, and its executable if it
// is a Go program using crypto/tls, and returns the files looked at.
func (h *tlsHooks) scanPID(pid int) []uprobe.FileID {
	var prefixes []string
	if h.enter != nil {
		prefixes = append(prefixes, "/libssl.so")
	}
	exe := ""
	if h.goProgs.write != nil {
		exe, _ = os.Readlink(filepath.Join(h.proc, strconv.Itoa(pid), "exe")) // none: a kernel thread, or exited
		if strings.HasPrefix(exe, "/") {
			prefixes = append(prefixes, exe)
		}
	}
	mapped, err := h.mapped(pid, prefixes, func(path string) bool { return path == exe || (h.enter != nil && isLibSSL(path)) })
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			h.log.Debug("read process mappings", "pid", pid, "err", err)
		}
		return nil // exited, or unreadable
	}
	ids := make([]uprobe.FileID, 0, len(mapped))
	for _, m := range mapped {
		switch {
		case m.Path != exe:
			h.ensure(&h.libs, pid, m)
		case m.ID != h.selfExe:
			h.ensure(&h.exes, pid, m)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

// scanAll scans every process, then unhooks (and forgets) files no
// process maps.
func (h *tlsHooks) scanAll() {
	mapped, err := uprobe.MappedByAll(h.proc, h.scanPID)
	if err != nil {
		h.log.Warn("list processes", "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range []*fileSet{&h.libs, &h.exes} {
		for id, links := range s.files {
			if !mapped[id] {
				s.forget(id, links)
			}
		}
	}
	for id := range h.skipped {
		if !mapped[id] {
			delete(h.skipped, id)
		}
	}
}

// ensure hooks a mapped file of set s unless it is already, or has nothing
// to hook. The file is reserved first and opened, parsed and attached
// outside the lock.
func (h *tlsHooks) ensure(s *fileSet, pid int, m uprobe.Mapping) {
	var stamp int64
	if s.stamp != nil {
		stamp = s.stamp(pid)
	}
	h.mu.Lock()
	if links, ok := s.files[m.ID]; ok && links != nil && s.stamps[m.ID] != stamp {
		h.log.Info("rewritten in place, hooked again: "+s.what, "path", m.Path)
		closeLinks(links)
		delete(s.files, m.ID)
	}
	if s.users != nil {
		if s.users[m.ID] == nil {
			s.users[m.ID] = map[int]bool{}
		}
		s.users[m.ID][pid] = true
	}
	if _, ok := s.files[m.ID]; ok {
		h.mu.Unlock()
		return
	}
	if skipped, ok := h.skipped[m.ID]; ok && skipped == stamp {
		h.mu.Unlock()
		return
	}
	if len(s.files) >= s.max {
		if !s.full {
			s.full = true
			h.log.Warn(s.what+" not hooked: too many distinct files hooked", "path", m.Path, "max", s.max)
		}
		h.mu.Unlock()
		return
	}
	s.files[m.ID] = nil
	if s.stamps != nil {
		s.stamps[m.ID] = stamp
	}
	h.mu.Unlock()

	links, slow, err := s.attach(pid, m)
	switch {
	case errors.Is(err, errNothingToHook):
		h.log.Debug("not hooked: "+s.what, "path", m.Path, "pid", pid, "err", err)
	case err != nil:
		h.log.Warn("hook "+s.what, "path", m.Path, "pid", pid, "err", err)
	default:
		h.log.Info("hooked "+s.what, "path", m.Path, "pid", pid, "uprobes", len(links), "single_stepped", slow)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cur, ok := s.files[m.ID]
	switch {
	case !ok || cur != nil: // unhooked meanwhile
		closeLinks(links)
	case links != nil:
		s.files[m.ID] = links
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, errUnreachable):
		delete(s.files, m.ID) // another process may reach it later
	case errors.Is(err, errNothingToHook):
		delete(s.files, m.ID)
		if len(h.skipped) < maxSkipped { // else read again at its next sight
			h.skipped[m.ID] = stamp
		}
	}
	// Else kept with no links: a broken file is not parsed on every scan.
}

// sslFree ends an SSL object, whose connection state tls_free forgets.
const sslFree = "SSL_free"

var (
	errUnreachable   = errors.New("file not reachable")
	errNothingToHook = errors.New("nothing to hook")
)

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
	symbols := []string{sslFree}
	for _, fn := range tlsFunctions {
		symbols = append(symbols, fn.symbol)
	}
	points, err := uprobe.ParseFile(f, symbols)
	if err != nil {
		return nil, nil, err
	}
	free, freed := points[sslFree]
	if len(points) == 0 || (freed && len(points) == 1) {
		return nil, nil, fmt.Errorf("%w: no SSL_read or SSL_write", errNothingToHook)
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
	if freed && h.free != nil {
		l, err := ex.Uprobe(sslFree, h.free, &link.UprobeOptions{Address: free.Offset})
		if err != nil {
			closeLinks(links)
			return nil, nil, err
		}
		links = append(links, l)
	}
	return links, slow, nil
}

// hooked counts the libssl files and the Go executables hooked.
func (h *tlsHooks) hooked() (libs, exes int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.libs.hooked(), h.exes.hooked()
}

func (h *tlsHooks) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range []*fileSet{&h.libs, &h.exes} {
		for id, links := range s.files {
			closeLinks(links)
			delete(s.files, id)
		}
	}
}

func closeLinks(links []link.Link) {
	for _, l := range links {
		l.Close()
	}
}

// startTLS hooks the libssl files processes map and the Go executables
// they run now, then follows new mappings and execs; it leaves TLS off
// where its programs did not load or the options say so.
// tlsMaps are the maps only HTTPS uses. Without --http-tls they are made as
// small as the kernel allows: the LRU hashes are preallocated, and all of
// them together would take about 12 MiB of kernel memory for nothing.
var tlsMaps = []string{httpMapTlsCalls, httpMapTlsStreams, httpMapGoTlsReads, httpMapTlsMmapReported, httpMapTlsEvents, httpMapTlsMmaps}

func shrinkTLSMaps(spec *ebpf.CollectionSpec) {
	for _, name := range tlsMaps {
		m := spec.Maps[name]
		if m.Type == ebpf.RingBuf {
			m.MaxEntries = uint32(os.Getpagesize())
		} else {
			m.MaxEntries = 1
		}
	}
}

func (p *Probe) startTLS(ctx context.Context) error {
	if !p.opts.TLS {
		return nil // off (--http-tls=false)
	}
	// Each part is off where its programs are in Objects().Failed.
	enter, ret := p.bpf.TlsEnter, loaded(p.bpf.TlsReturn, p.bpf.TlsReturnH1)
	if enter == nil || ret == nil || p.bpf.TlsWatchMmap == nil {
		enter, ret = nil, nil
	}
	goProgs := p.goTLSPrograms()
	if enter == nil && goProgs.write == nil {
		return nil
	}
	// A watcher that does not attach turns its part off, not the probe.
	if enter != nil {
		if watch, err := link.AttachTracing(link.TracingOptions{Program: p.bpf.TlsWatchMmap}); err != nil {
			p.degraded[tlsFeature] = fmt.Errorf("attach its library watcher: %w", err)
			enter, ret = nil, nil
		} else {
			p.watches = append(p.watches, watch)
		}
	}
	if goProgs.write != nil {
		if watch, err := link.AttachTracing(link.TracingOptions{Program: p.bpf.GoTlsWatchExec}); err != nil {
			p.degraded[goTLSFeature] = fmt.Errorf("attach its exec watcher: %w", err)
			goProgs = goTLSPrograms{}
		} else {
			p.watches = append(p.watches, watch)
		}
	}
	if enter == nil && goProgs.write == nil {
		return nil
	}
	p.tls = newTLSHooks(enter, ret, p.bpf.TlsFree, goProgs, p.env.Log)
	rescan := make(chan int, 1024)
	err := p.objs.ReadRing(p.bpf.TlsMmaps, func(raw []byte) {
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
	// The mmap and exec hooks run before the first scan, so no process
	// falls between.
	p.tls.scanAll()
	ctx, p.stopTLS = context.WithCancel(ctx)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		uprobe.Discover(ctx, rescan, func(pid int) { p.tls.scanPID(pid) }, p.tls.scanAll)
	}()
	if goProgs.write != nil {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			stop := tick.Every(ctx, exePruneEvery, func(time.Time) { p.tls.pruneExes() })
			<-ctx.Done()
			stop() // no prune runs once Close goes on
		}()
	}
	return nil
}

// Degraded implements probe.Degrader: HTTP/2 where only the fallbacks
// loaded, the HTTPS parts whose watcher did not attach (parts whose
// programs did not load are in Objects().Failed).
func (p *Probe) Degraded() map[string]error { return p.degraded }

// exePruneEvery is how often Go executables whose processes all ended are
// unhooked (pruneUsers).
const exePruneEvery = time.Second

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
		h2:           e.Segment == httpSegmentSEG_H2,
		seq:          e.Offset,
		tls:          true,
		length:       int(e.Len),
		data:         recordData(data, e.Captured, e.Len, e.Segment),
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
