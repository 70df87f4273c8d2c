package cuda

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probe/uprobe"
)

// maxLibraries bounds the library files hooked at once (each container image
// brings its own copy).
const maxLibraries = 256

// programs are the BPF programs hooks attach.
type programs struct {
	entry, allocEnter, allocReturn *ebpf.Program
	nameEnter, nameReturn          *ebpf.Program
}

// hookedLibrary is one library file with its uprobes. Uprobes belong to the
// file (inode), so every process that maps it, now or later, is traced;
// sampled hooks (unless exact) are attached per process by the sampler,
// through the file kept open here.
type hookedLibrary struct {
	lib    *library
	links  []link.Link
	file   *os.File                // open while hooked, for the sampler's attachments; nil without sampled hooks
	points map[string]uprobe.Point // where its hooked functions are
	err    error                   // why it is not hooked, once attaching failed
}

// hooked reports whether the file is hooked: uprobes attached, or sampled
// ones to attach.
func (h *hookedLibrary) hooked() bool { return len(h.links) > 0 || h.file != nil }

func (h *hookedLibrary) close() {
	closeLinks(h.links)
	if h.file != nil {
		h.file.Close()
	}
}

// attacher finds hooked libraries in processes' mappings and attaches to
// each library file once.
type attacher struct {
	progs programs
	log   *slog.Logger
	proc  string // procfs mount, /proc
	// exact: sampled hooks are attached per file like the others, and count
	// every call.
	exact bool

	// onProcess, when set, learns every process found mapping hooked
	// files with sampled hooks (the sampler's track).
	onProcess func(pid int, files []uprobe.FileID)

	// mappers, when the kernel runs find_mappers, names the processes that
	// map a file with a hooked library's name, for full scans that read
	// only their maps files (scanTargets). mappersOut is its reused output;
	// scans counts full scans; fellBack: the fallback to reading every
	// process was logged. Used by one goroutine at a time (Start's scan,
	// then Discover's).
	mappers    *link.Iter
	mappersOut bytes.Buffer
	scans      int
	fellBack   bool

	mu   sync.Mutex
	libs map[uprobe.FileID]*hookedLibrary
	full bool // the table was found full (said once in the log)
}

// everyProcessScans: one full scan in this many reads every process's
// maps, for mappings find_mappers cannot name (it goes by the mapped
// file's own name, which a bind mount or a file renamed in an overlayfs
// layer may hide; the mmap hook's filter is the same), and only such a
// scan can tell that no process maps a file any more.
const everyProcessScans = 10

func newAttacher(p programs, exact bool, log *slog.Logger) *attacher {
	return &attacher{progs: p, exact: exact, log: log, proc: "/proc", libs: map[uprobe.FileID]*hookedLibrary{}}
}

// scanPID hooks the CUDA libraries a process maps. It returns what it found,
// hooked before or now.
func (a *attacher) scanPID(pid int) []uprobe.FileID {
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
	ids := make([]uprobe.FileID, 0, len(files))
	var sampled []uprobe.FileID
	for _, m := range files {
		a.ensure(pid, m)
		ids = append(ids, m.ID)
		if lib, _ := libraryOf(m.Path); lib.hasSampled() {
			sampled = append(sampled, m.ID)
		}
	}
	if a.onProcess != nil && len(sampled) > 0 {
		a.onProcess(pid, sampled)
	}
	return ids
}

// scanAll scans the processes of scanTargets and, when they are every
// process, unhooks library files none of them maps. Full scans run at start
// and every uprobe.FullScanEvery, for the mappings no report names
// (docs/design.md, CUDA: Discovery).
func (a *attacher) scanAll() {
	pids, every, err := a.scanTargets()
	if err != nil {
		a.log.Warn("list processes", "err", err)
		return
	}
	a.scan(pids, every)
}

// scan scans processes pids and, when they are every process, unhooks
// library files none of them maps.
func (a *attacher) scan(pids []int, every bool) {
	mapped := uprobe.MappedBy(pids, a.scanPID)
	if !every {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, h := range a.libs {
		if !mapped[id] {
			h.close()
			delete(a.libs, id)
		}
	}
}

// ensure hooks a mapped library file unless it already is. The file is
// reserved in the table first and opened, parsed and attached outside the
// lock, so a scrape (attached) never waits for ELF parsing; a second ensure
// of the same file finds the reservation and leaves it alone.
func (a *attacher) ensure(pid int, m uprobe.Mapping) {
	a.mu.Lock()
	if _, ok := a.libs[m.ID]; ok {
		a.mu.Unlock()
		return
	}
	if len(a.libs) >= maxLibraries {
		if !a.full {
			a.full = true
			a.log.Warn("runtime library not hooked: too many distinct library files hooked", "path", m.Path, "max", maxLibraries)
		}
		a.mu.Unlock()
		return
	}
	lib, _ := libraryOf(m.Path)
	h := &hookedLibrary{lib: lib}
	a.libs[m.ID] = h
	a.mu.Unlock()

	f, err := uprobe.OpenMapped(a.proc, pid, m)
	if err != nil {
		// This process no longer reaches the file (it exited, or its
		// container moved the path): another process that maps the file, at
		// its next mapping or the next full scan, may.
		a.log.Debug("runtime library not reachable", "library", lib.name, "path", m.Path, "pid", pid, "err", err)
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.libs[m.ID] == h {
			delete(a.libs, m.ID)
		}
		return
	}
	if afterOpen != nil {
		afterOpen(pid, m)
	}
	hooked := &hookedLibrary{lib: lib}
	var slow []string
	hooked.links, hooked.points, slow, hooked.err = a.attach(lib, f)
	if hooked.err == nil && !a.exact && lib.hasSampled() {
		hooked.file = f // the sampler attaches through it
	} else {
		f.Close() // the uprobes hold the file themselves
	}
	if err := hooked.err; err != nil {
		a.log.Warn("hook runtime library", "library", lib.name, "path", m.Path, "pid", pid, "err", err)
	} else {
		a.log.Info("hooked runtime library", "library", lib.name, "path", m.Path, "pid", pid, "uprobes", len(hooked.links),
			"sampled", hooked.file != nil, "single_stepped", slow)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.libs[m.ID] != h { // unhooked (no process maps it, or closed) meanwhile
		hooked.close()
		return
	}
	// Kept when attaching failed too, so a broken file is not parsed again
	// on every scan.
	*h = *hooked
}

// afterOpen, set by tests only, runs between opening a library file and
// parsing and attaching it: where a container could swap the path.
var afterOpen func(pid int, m uprobe.Mapping)

// attach hooks a library file opened by uprobe.OpenMapped, parsing it and attaching
// through its descriptor only, every hook but the sampled ones unless exact;
// points are where its hooked functions are, slow lists the functions whose
// probed instruction the kernel single-steps (the expensive path).
func (a *attacher) attach(lib *library, f *os.File) (links []link.Link, points map[string]uprobe.Point, slow []string, err error) {
	symbols := make([]string, len(lib.hooks))
	for i, h := range lib.hooks {
		symbols[i] = h.symbol
	}
	points, err = uprobe.ParseFile(f, symbols)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(points) == 0 {
		return nil, nil, nil, errors.New("no hooked function found")
	}
	// With addresses given, cilium/ebpf reads nothing from the file; the
	// kernel resolves the descriptor's path to the file opened above.
	ex, err := link.OpenExecutable(uprobe.FDPath(int(f.Fd())))
	if err != nil {
		return nil, nil, nil, err
	}
	var errs []error
	for _, h := range lib.hooks {
		pt, ok := points[h.symbol]
		if !ok {
			continue // not every version has every variant
		}
		if !pt.Emulated {
			slow = append(slow, h.symbol)
		}
		if h.sampled() != "" && !a.exact {
			continue // attached per process by the sampler
		}
		opts := &link.UprobeOptions{Address: pt.Offset, Cookie: lib.cookie(h, pt)}
		entry, exit := a.progs.of(h)
		if exit == nil {
			l, err := ex.Uprobe(h.symbol, entry, opts)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			links = append(links, l)
			continue
		}
		enter, err := ex.Uprobe(h.symbol, entry, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// An entry without its return would take the calls below it for nested.
		ret, err := ex.Uretprobe(h.symbol, exit, opts)
		if err != nil {
			enter.Close()
			errs = append(errs, err)
			continue
		}
		links = append(links, enter, ret)
	}
	if len(errs) > 0 {
		if len(links) == 0 && (a.exact || !lib.hasSampled()) {
			return nil, nil, nil, errors.Join(errs...)
		}
		a.log.Warn("some runtime functions not hooked", "library", lib.name, "err", errors.Join(errs...))
	}
	return links, points, slow, nil
}

// attached counts the library files hooked, by library label.
func (a *attacher) attached() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]int{}
	for _, h := range a.libs {
		if h.hooked() {
			out[h.lib.name]++
		}
	}
	return out
}

// sampledTarget is what the sampler attaches to in one library file.
type sampledTarget struct {
	lib    *library
	file   *os.File // a descriptor of the caller's, to close once attached
	points map[string]uprobe.Point
}

// sampledTargets returns the hooked files among ids that have sampled hooks,
// each through a descriptor of its own, so that an unhooked file's
// descriptor number, reused, never leads the caller to another file.
func (a *attacher) sampledTargets(ids []uprobe.FileID) []sampledTarget {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []sampledTarget
	for _, id := range ids {
		h, ok := a.libs[id]
		if !ok || h.file == nil {
			continue
		}
		fd, err := unix.FcntlInt(h.file.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			a.log.Debug("duplicate CUDA library descriptor", "library", h.lib.name, "err", err)
			continue
		}
		out = append(out, sampledTarget{lib: h.lib, file: os.NewFile(uintptr(fd), h.file.Name()), points: h.points})
	}
	return out
}

// scanTargets are the processes a full scan reads, and whether they are
// every process: those find_mappers names; every process at every
// everyProcessScans-th scan (the first included), and where the kernel
// does not run find_mappers.
func (a *attacher) scanTargets() (pids []int, every bool, err error) {
	a.scans++
	if a.mappers != nil && a.scans%everyProcessScans != 1 {
		if pids, err = a.mapperPIDs(); err == nil {
			return pids, false, nil
		}
		if !a.fellBack {
			a.fellBack = true
			a.log.Warn("find processes that map runtime libraries in the kernel: reading every process's maps instead", "err", err)
		}
	}
	pids, err = uprobe.PIDs(a.proc)
	return pids, true, err
}

// mapperPIDs runs find_mappers: each process with a file mapping of a
// hooked library's name, once, in pid order.
func (a *attacher) mapperPIDs() ([]int, error) {
	records, err := probe.IterRecords[cudaMapperRecord](a.mappers, &a.mappersOut)
	if err != nil {
		return nil, err
	}
	pids := make([]int, len(records))
	for i, r := range records {
		pids[i] = int(r.Tgid)
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

func (a *attacher) close() {
	if a.mappers != nil {
		a.mappers.Close()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, h := range a.libs {
		h.close()
		delete(a.libs, id)
	}
}

func closeLinks(links []link.Link) {
	for _, l := range links {
		l.Close()
	}
}
