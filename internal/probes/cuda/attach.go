package cuda

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// maxLibraries bounds the library files hooked at once (each container image
// brings its own copy).
const maxLibraries = 256

// programs are the BPF programs hooks attach.
type programs struct {
	entry, allocEnter, allocReturn *ebpf.Program
}

// hookedLibrary is one library file with its uprobes. Uprobes belong to the
// file (inode), so every process that maps it, now or later, is traced.
type hookedLibrary struct {
	lib   *library
	links []link.Link
	err   error // why it has no links, once attaching failed
}

// attacher finds hooked libraries in processes' mappings and attaches to
// each library file once.
type attacher struct {
	progs programs
	log   *slog.Logger
	proc  string // procfs mount, /proc

	mu   sync.Mutex
	libs map[fileID]*hookedLibrary
	full bool // the table was found full (said once in the log)
}

func newAttacher(p programs, log *slog.Logger) *attacher {
	return &attacher{progs: p, log: log, proc: "/proc", libs: map[fileID]*hookedLibrary{}}
}

// scanPID hooks the CUDA libraries a process maps. It returns what it found,
// hooked before or now.
func (a *attacher) scanPID(pid int) []fileID {
	f, err := os.Open(filepath.Join(a.proc, strconv.Itoa(pid), "maps"))
	if err != nil {
		return nil // exited
	}
	defer f.Close()
	files, err := mappedLibraries(f)
	if err != nil {
		a.log.Debug("read process mappings", "pid", pid, "err", err)
		return nil
	}
	ids := make([]fileID, 0, len(files))
	for _, m := range files {
		a.ensure(pid, m)
		ids = append(ids, m.id)
	}
	return ids
}

// scanAll scans every process, then unhooks library files no process maps.
func (a *attacher) scanAll() {
	entries, err := os.ReadDir(a.proc)
	if err != nil {
		a.log.Warn("list processes", "err", err)
		return
	}
	mapped := map[fileID]bool{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		for _, id := range a.scanPID(pid) {
			mapped[id] = true
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, h := range a.libs {
		if !mapped[id] {
			closeLinks(h.links)
			delete(a.libs, id)
		}
	}
}

// ensure hooks a mapped library file unless it already is. The file is
// reserved in the table first and opened, parsed and attached outside the
// lock, so a scrape (attached) never waits for ELF parsing; a second ensure
// of the same file finds the reservation and leaves it alone.
func (a *attacher) ensure(pid int, m mappedFile) {
	a.mu.Lock()
	if _, ok := a.libs[m.id]; ok {
		a.mu.Unlock()
		return
	}
	if len(a.libs) >= maxLibraries {
		if !a.full {
			a.full = true
			a.log.Warn("CUDA library not hooked: too many distinct library files hooked", "path", m.path, "max", maxLibraries)
		}
		a.mu.Unlock()
		return
	}
	lib, _ := libraryOf(m.path)
	h := &hookedLibrary{lib: lib}
	a.libs[m.id] = h
	a.mu.Unlock()

	f, err := openMapped(a.proc, pid, m)
	if err != nil {
		// This process no longer reaches the file (it exited, or its
		// container moved the path): another process that maps the file, at
		// its next mapping or the next full scan, may.
		a.log.Debug("CUDA library not reachable", "library", lib.name, "path", m.path, "pid", pid, "err", err)
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.libs[m.id] == h {
			delete(a.libs, m.id)
		}
		return
	}
	if afterOpen != nil {
		afterOpen(pid, m)
	}
	links, slow, err := a.attach(lib, f)
	f.Close() // the uprobes hold the file themselves
	if err != nil {
		a.log.Warn("hook CUDA library", "library", lib.name, "path", m.path, "pid", pid, "err", err)
	} else {
		a.log.Info("hooked CUDA library", "library", lib.name, "path", m.path, "pid", pid, "uprobes", len(links), "single_stepped", slow)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.libs[m.id] != h { // unhooked (no process maps it, or closed) meanwhile
		closeLinks(links)
		return
	}
	// Kept when attaching failed too, so a broken file is not parsed again
	// on every scan.
	h.links, h.err = links, err
}

// afterOpen, set by tests only, runs between opening a library file and
// parsing and attaching it: where a container could swap the path.
var afterOpen func(pid int, m mappedFile)

// attach hooks a library file opened by openMapped, parsing it and attaching
// through its descriptor only; slow lists the functions whose probed
// instruction the kernel single-steps (the expensive path).
func (a *attacher) attach(lib *library, f *os.File) (links []link.Link, slow []string, err error) {
	symbols := make([]string, len(lib.hooks))
	for i, h := range lib.hooks {
		symbols[i] = h.symbol
	}
	points, err := parseFile(f, symbols)
	if err != nil {
		return nil, nil, err
	}
	// With addresses given, cilium/ebpf reads nothing from the file; the
	// kernel resolves the descriptor's path to the file opened above.
	ex, err := link.OpenExecutable(fdPath(int(f.Fd())))
	if err != nil {
		return nil, nil, err
	}
	var errs []error
	for _, h := range lib.hooks {
		pt, ok := points[h.symbol]
		if !ok {
			continue // not every version has every variant
		}
		if !pt.emulated {
			slow = append(slow, h.symbol)
		}
		opts := &link.UprobeOptions{Address: pt.offset, Cookie: lib.cookie(h, pt)}
		if !h.withReturn {
			l, err := ex.Uprobe(h.symbol, a.progs.entry, opts)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			links = append(links, l)
			continue
		}
		enter, err := ex.Uprobe(h.symbol, a.progs.allocEnter, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// An entry without its return would take the calls below it for nested.
		ret, err := ex.Uretprobe(h.symbol, a.progs.allocReturn, opts)
		if err != nil {
			enter.Close()
			errs = append(errs, err)
			continue
		}
		links = append(links, enter, ret)
	}
	if len(links) == 0 {
		errs = append(errs, errors.New("no hooked function found"))
		return nil, nil, errors.Join(errs...)
	}
	if len(errs) > 0 {
		a.log.Warn("some CUDA functions not hooked", "library", lib.name, "err", errors.Join(errs...))
	}
	return links, slow, nil
}

// parseFile finds the probe points of an open library file. A parser bug
// (none known; the reader is fuzzed) costs this file, not the agent.
func parseFile(f *os.File, symbols []string) (points map[string]probePoint, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parse ELF: %v", r)
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return functionOffsets(f, st.Size(), symbols)
}

// attached counts the library files hooked, by library label.
func (a *attacher) attached() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]int{}
	for _, h := range a.libs {
		if len(h.links) > 0 {
			out[h.lib.name]++
		}
	}
	return out
}

func (a *attacher) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, h := range a.libs {
		closeLinks(h.links)
		delete(a.libs, id)
	}
}

func closeLinks(links []link.Link) {
	for _, l := range links {
		l.Close()
	}
}
