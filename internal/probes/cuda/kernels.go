package cuda

import (
	"bufio"
	"cmp"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/ianlancetaylor/demangle"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe/uprobe"
	"github.com/orb8/orb8/internal/series"
)

const (
	// maxKernelRows bounds the (cgroup, kernel name) counters kept in user
	// space, the series of orb8_accelerator_kernel_launches_by_name_total.
	maxKernelRows = 4096
	// maxSymbolFiles bounds the files whose resolved symbols are cached.
	maxSymbolFiles = 1024
	// maxKernelName bounds a kernel name, in bytes (template-heavy C++
	// names run to kilobytes).
	maxKernelName = 256
	// unknownKernel names the launches whose kernel has no name: a pointer
	// in no symbol (stripped, JIT), a CUfunction got before it was hooked.
	unknownKernel = "[unknown]"
	// nameDelay gathers processes' first launches of kernels for naming
	// while the processes live: their first launches come together, and
	// each file's symbols are searched once for all of them. nameEvery
	// bounds how often that search runs (a file's whole symbol table).
	nameDelay = 50 * time.Millisecond
	nameEvery = time.Second
	// maxFirstLaunches bounds the launches waiting for nameDelay; the
	// others are named at the next refresh.
	maxFirstLaunches = 4096
)

// kernelDrops label what did not fit, by table (the table label of
// orb8_accelerator_kernel_table_dropped_total): the in-kernel tables as
// enum kernel_drop numbers them, then the user-space one.
var kernelDrops = [...]string{"launches", "function_names", "events", "rows"}

// kernelRow is one counter: launches of a kernel by a cgroup.
type kernelRow struct {
	cgroup uint64
	kernel string
}

// kernelNames names the launches the kernel counts per (cgroup, process,
// kernel pointer) and keeps their sums per (cgroup, name): the in-kernel
// table's rows of exited processes are folded in and deleted, so it holds
// live processes only, and the sums stay monotonic.
type kernelNames struct {
	launches, functions *ebpf.Map // kernel_launches, function_names
	proc                string

	mu      sync.Mutex
	last    map[cudaKernelKey]uint64 // each in-kernel row's value when last read
	named   map[cudaKernelKey]string
	totals  map[kernelRow]uint64
	symbols map[uprobe.FileID]map[uint64]string // per file, by file offset ("" where none)
	dropped uint64                              // launches not summed: totals full
	first   firstLaunches
}

// firstLaunches are the first launches waiting to be named (nameFirst),
// under a lock of their own: the ring reader that adds them never waits
// for a naming in progress.
type firstLaunches struct {
	mu      sync.Mutex
	keys    []cudaKernelKey
	timer   *time.Timer // names keys, while there are any
	named   time.Time   // when the last batch was named
	stopped bool
}

func newKernelNames(launches, functions *ebpf.Map) *kernelNames {
	return &kernelNames{
		launches: launches, functions: functions, proc: "/proc",
		last: map[cudaKernelKey]uint64{}, named: map[cudaKernelKey]string{},
		totals: map[kernelRow]uint64{}, symbols: map[uprobe.FileID]map[uint64]string{},
	}
}

// refresh folds what the kernel counted since the last call into the sums
// and forgets the exited processes' rows.
func (k *kernelNames) refresh() error {
	var (
		key    cudaKernelKey
		value  uint64
		keys   []cudaKernelKey
		values []uint64
	)
	it := k.launches.Iterate()
	for it.Next(&key, &value) {
		keys = append(keys, key)
		values = append(values, value)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.resolve(keys)
	checked, gone := map[uint32]bool{}, map[uint32]bool{}
	for i, key := range keys {
		k.fold(key, values[i])
		if !checked[key.Tgid] {
			checked[key.Tgid] = true
			if _, err := os.Stat(filepath.Join(k.proc, strconv.Itoa(int(key.Tgid)))); errors.Is(err, os.ErrNotExist) {
				gone[key.Tgid] = true
			}
		}
	}
	if len(gone) > 0 {
		k.forgetProcesses(keys, gone)
	}
	return it.Err()
}

// nameFirst names a process's first launch of a kernel soon, nameDelay
// after it or nameEvery after the last batch: a process that exits before
// the next refresh takes its mappings with it.
func (k *kernelNames) nameFirst(key cudaKernelKey) {
	f := &k.first
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped || len(f.keys) >= maxFirstLaunches {
		return
	}
	f.keys = append(f.keys, key)
	if len(f.keys) == 1 {
		f.timer = time.AfterFunc(max(nameDelay, time.Until(f.named.Add(nameEvery))), k.nameFirstBatch)
	}
}

// nameFirstBatch names the first launches gathered, but those of processes
// a refresh has forgotten meanwhile: their names would outlive their rows.
func (k *kernelNames) nameFirstBatch() {
	f := &k.first
	f.mu.Lock()
	keys := f.keys
	f.keys, f.named = nil, time.Now()
	f.mu.Unlock()
	k.mu.Lock()
	defer k.mu.Unlock()
	live := keys[:0]
	var n uint64
	for _, key := range keys {
		if k.launches.Lookup(key, &n) == nil {
			live = append(live, key)
		}
	}
	k.resolve(live)
}

// stop ends naming first launches.
func (k *kernelNames) stop() {
	f := &k.first
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
	if f.timer != nil {
		f.timer.Stop()
	}
	f.keys = nil
}

// fold adds what a row counted since it was last folded. A refresh that
// read the row before another one folded it adds nothing.
func (k *kernelNames) fold(key cudaKernelKey, value uint64) {
	if last := k.last[key]; value > last {
		k.add(kernelRow{key.CgroupId, k.named[key]}, value-last)
		k.last[key] = value
	}
}

func (k *kernelNames) add(row kernelRow, n uint64) {
	if _, ok := k.totals[row]; !ok && len(k.totals) >= maxKernelRows {
		k.dropped += n
		return
	}
	k.totals[row] += n
}

// forgetProcesses deletes the rows of exited processes, each read for the
// last time first: nothing adds to them any more.
func (k *kernelNames) forgetProcesses(keys []cudaKernelKey, gone map[uint32]bool) {
	for _, key := range keys {
		if gone[key.Tgid] {
			var v uint64
			if k.launches.Lookup(key, &v) == nil {
				k.fold(key, v)
			}
			_ = k.launches.Delete(key)
			delete(k.last, key)
			delete(k.named, key)
		}
	}
	var (
		fk    cudaFunctionKey
		fn    cudaFunctionName
		stale []cudaFunctionKey
	)
	it := k.functions.Iterate()
	for it.Next(&fk, &fn) {
		if gone[fk.Tgid] {
			stale = append(stale, fk)
		}
	}
	for _, fk := range stale {
		_ = k.functions.Delete(fk)
	}
}

// name returns the name of one launch's kernel (for an event), resolving
// it if new. Callers do not hold mu.
func (k *kernelNames) name(key cudaKernelKey) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.resolve([]cudaKernelKey{key})
	return k.named[key]
}

// resolve names the keys not yet named: each process's mappings read once,
// each file's symbols searched once for all its new addresses. A key that
// cannot be named is named unknownKernel for good: the pointer of a launch
// lies in its process's mappings when it is made.
func (k *kernelNames) resolve(keys []cudaKernelKey) {
	type place struct {
		pid int
		m   uprobe.Mapping
		off uint64 // in the file
	}
	places := map[cudaKernelKey]place{}
	procMaps := map[uint32][]uprobe.Mapping{}
	for _, key := range keys {
		if _, ok := k.named[key]; ok {
			continue
		}
		if key.Level == uint32(cudaLevelLEVEL_DRIVER) {
			k.named[key] = kernelName(k.functionName(key))
			continue
		}
		mf, ok := procMaps[key.Tgid]
		if !ok {
			mf = k.mappings(int(key.Tgid))
			procMaps[key.Tgid] = mf
		}
		i := slices.IndexFunc(mf, func(m uprobe.Mapping) bool { return key.Function >= m.Start && key.Function < m.End })
		if i < 0 {
			k.named[key] = unknownKernel
			continue
		}
		places[key] = place{int(key.Tgid), mf[i], key.Function - mf[i].Start + mf[i].Offset}
	}
	// Each file's uncached offsets, searched for at once through one of
	// the processes that map it. files holds each file's names for this
	// call: caching one file may clear the others' caches.
	todo := map[uprobe.FileID][]place{}
	files := map[uprobe.FileID]map[uint64]string{}
	for _, p := range places {
		files[p.m.ID] = k.symbols[p.m.ID]
		if _, ok := k.symbols[p.m.ID][p.off]; !ok {
			todo[p.m.ID] = append(todo[p.m.ID], p)
		}
	}
	for id, ps := range todo {
		offsets := make([]uint64, len(ps))
		for i, p := range ps {
			offsets[i] = p.off
		}
		files[id] = k.cacheSymbols(ps[0].pid, ps[0].m, offsets, files[id])
	}
	for key, p := range places {
		k.named[key] = kernelName(files[p.m.ID][p.off])
	}
}

// functionName is the name the driver looked a CUfunction (or CUkernel) up
// by, "" if unknown.
func (k *kernelNames) functionName(key cudaKernelKey) string {
	var n cudaFunctionName
	if err := k.functions.Lookup(cudaFunctionKey{Tgid: key.Tgid, Handle: key.Function}, &n); err != nil {
		return ""
	}
	raw := make([]byte, 0, len(n.Name))
	for _, c := range n.Name {
		if c == 0 {
			break
		}
		raw = append(raw, byte(c))
	}
	return string(raw)
}

// mappings are a process's executable file-backed mappings, where the
// host-side functions of kernels are (none when they cannot be read).
func (k *kernelNames) mappings(pid int) []uprobe.Mapping {
	f, err := os.Open(filepath.Join(k.proc, strconv.Itoa(pid), "maps"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []uprobe.Mapping
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !executable(line) {
			continue
		}
		if m, ok, err := uprobe.ParseMapsLine(line); err == nil && ok {
			out = append(out, m)
		}
	}
	return out
}

// executable reports whether a maps line's permissions (its second field,
// "r-xp") allow execution.
func executable(line string) bool {
	_, rest, _ := strings.Cut(line, " ")
	return len(rest) >= 3 && rest[2] == 'x'
}

// cacheSymbols reads the function symbols at some offsets of a file a
// process maps into the file's cache ("" where none), so every process
// mapping the file shares them, and returns that cache. known is the
// file's cache as the caller read it, kept if the cache was cleared since.
func (k *kernelNames) cacheSymbols(pid int, m uprobe.Mapping, offsets []uint64, known map[uint64]string) map[uint64]string {
	cached := k.symbols[m.ID]
	if cached == nil {
		if len(k.symbols) >= maxSymbolFiles {
			clear(k.symbols) // rebuilt as launches come
		}
		if cached = known; cached == nil {
			cached = map[uint64]string{}
		}
		k.symbols[m.ID] = cached
	}
	for _, off := range offsets {
		cached[off] = ""
	}
	f, err := uprobe.OpenMapped(k.proc, pid, m)
	if err != nil {
		return cached
	}
	defer f.Close()
	names, err := symbolizeFile(f, offsets)
	if err != nil {
		return cached
	}
	maps.Copy(cached, names)
	return cached
}

// symbolizeFile is uprobe.Symbolize on an open file; a parser bug (none known;
// the reader is fuzzed) costs this file's names, not the agent.
func symbolizeFile(f *os.File, offsets []uint64) (names map[uint64]string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("parse ELF: panic")
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return uprobe.Symbolize(f, st.Size(), offsets)
}

// kernelName is a symbol as a label value: demangled, valid UTF-8,
// bounded; unknownKernel for none.
func kernelName(symbol string) string {
	if symbol == "" {
		return unknownKernel
	}
	name := strings.ToValidUTF8(demangle.Filter(symbol), "?")
	if len(name) > maxKernelName {
		name = strings.ToValidUTF8(name[:maxKernelName-3], "") + "..."
	}
	return name
}

// kernelCount is one kernel's launches by one workload.
type kernelCount struct {
	workload cgroup.Workload
	kernel   string
	launches uint64
}

// counts sums the launches by workload (folded as series are: without id)
// and kernel, in workload then kernel order; dropped is what the sums
// could not hold.
func (k *kernelNames) counts(visible func(uint64) (cgroup.Workload, bool)) (rows []kernelCount, dropped uint64) {
	type workloadKernel struct {
		w      cgroup.Workload
		kernel string
	}
	merged := map[workloadKernel]uint64{}
	k.mu.Lock()
	for row, n := range k.totals {
		w, ok := visible(row.cgroup)
		if !ok {
			continue
		}
		w.ID = 0
		merged[workloadKernel{w, row.kernel}] += n
	}
	dropped = k.dropped
	k.mu.Unlock()
	for key, n := range merged {
		rows = append(rows, kernelCount{key.w, key.kernel, n})
	}
	slices.SortFunc(rows, func(a, b kernelCount) int {
		return cmp.Or(series.CompareWorkloads(&a.workload, &b.workload), strings.Compare(a.kernel, b.kernel))
	})
	return rows, dropped
}

// forget drops the sums of gone cgroups.
func (k *kernelNames) forget(ids []uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	gone := map[uint64]bool{}
	for _, id := range ids {
		gone[id] = true
	}
	for row := range k.totals {
		if gone[row.cgroup] {
			delete(k.totals, row)
		}
	}
}
