package drm

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
)

// Table bounds: clients alive at once, and series (engine and memory rows
// of workloads, device engines). What does not fit is counted, by reason.
const (
	defaultMaxClients = 4096
	defaultMaxSeries  = 16384
	// maxFdinfo bounds one fdinfo read: a DRM client's is 1-3 KiB.
	maxFdinfo = 64 << 10
)

// Reasons of orb8_accelerator_drm_dropped_total.
const (
	dropMalformed = "malformed" // fdinfo files with lines that did not parse (the rest of the file counts)
	dropClients   = "clients"   // clients seen in a scan over the client table's bound
	dropSeries    = "series"    // figures over the series bound
)

// deviceKey is one DRM device: drm-pdev, or the platform device of the
// node for drivers without one.
type deviceKey struct{ driver, device string }

// clientKey is one DRM client. drm-client-id is unique per device (then
// drm-pdev is present) or globally; a driver that prints none has its
// clients counted per fd.
type clientKey struct {
	dev deviceKey
	id  uint64
	pid uint32
	fd  string
}

// client is one client seen in a scan: its usage, and the process holding
// it with the lowest pid (fds and forked processes share clients).
type client struct {
	usage Usage
	pid   uint32
}

// engineKey is one engine series of a workload.
type engineKey struct {
	cgroup uint64
	dev    deviceKey
	engine string
}

// engineSeries is a workload's engine counters: the sum, over every client
// the workload ever had, of what each added while it was seen. A client
// that goes away leaves its counts; the series goes with the workload.
type engineSeries struct {
	busyNs, cycles     uint64
	hasBusy, hasCycles bool
	// At the previous scan, for the utilization ratio.
	prevBusyNs, prevCycles, prevTotal uint64
	prevAt                            time.Time
	ratio                             float64
	hasRatio                          bool
}

// deviceEngine is an engine class of a device as its clients report it.
type deviceEngine struct {
	capacity    uint64
	totalCycles uint64 // drm-total-cycles: the GPU clock, newest read
	hasTotal    bool
}

// lastRead is a live client's counters for one engine at its last scan:
// what the next scan's deltas start from.
type lastRead struct{ busyNs, cycles uint64 }

type memoryKey struct {
	cgroup uint64
	dev    deviceKey
	mem    MemoryKey
}

// scanner reads the DRM clients of every process under proc, folds them
// into per-workload series, and keeps the table scrapes read.
type scanner struct {
	proc, cgroupRoot, sysClass string
	resolver                   probe.Resolver
	maxClients, maxSeries      int

	// Owned by the scanning goroutine and Forget, under mu.
	mu      sync.Mutex
	clients map[clientKey]map[string]lastRead
	engines map[engineKey]*engineSeries
	devices map[deviceKey]map[string]*deviceEngine
	dropped map[string]uint64
	buf     []byte
	nodes   map[string]string // DRM node name to its device, for drivers without drm-pdev

	tableMu sync.RWMutex
	table   table
}

func newScanner(proc, cgroupRoot, sysClass string, r probe.Resolver) *scanner {
	return &scanner{
		proc: proc, cgroupRoot: cgroupRoot, sysClass: sysClass, resolver: r,
		maxClients: defaultMaxClients, maxSeries: defaultMaxSeries,
		clients: map[clientKey]map[string]lastRead{}, engines: map[engineKey]*engineSeries{},
		devices: map[deviceKey]map[string]*deviceEngine{}, dropped: map[string]uint64{dropMalformed: 0, dropClients: 0, dropSeries: 0},
		buf: make([]byte, maxFdinfo), nodes: map[string]string{},
	}
}

// scan reads every process's DRM fds once and rebuilds the table.
func (s *scanner) scan(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := s.readClients()
	cgroups := map[uint32]uint64{}
	memory := map[memoryKey]uint64{}
	live := map[clientKey]bool{}
	for key, c := range seen {
		id, ok := cgroups[c.pid]
		if !ok {
			if id, ok = probe.PidCgroup(s.proc, s.cgroupRoot, c.pid); !ok {
				continue // exited since the walk, or no cgroup v2
			}
			cgroups[c.pid] = id
		}
		live[key] = true
		s.fold(key, id, c.usage)
		for mk, v := range c.usage.Memory {
			k := memoryKey{id, key.dev, mk}
			if _, ok := memory[k]; !ok && len(memory) >= s.maxSeries {
				s.dropped[dropSeries]++
				continue
			}
			memory[k] += v
		}
	}
	for key := range s.clients {
		if !live[key] {
			delete(s.clients, key)
		}
	}
	for k, e := range s.engines {
		s.rate(e, s.devices[k.dev][k.engine], now)
	}
	s.publish(memory)
}

// readClients walks proc for fds on DRM and accel nodes and parses their
// fdinfo, each client once.
func (s *scanner) readClients() map[clientKey]*client {
	seen := map[clientKey]*client{}
	procs, _ := os.ReadDir(s.proc)
	for _, p := range procs {
		pid, err := strconv.ParseUint(p.Name(), 10, 32)
		if err != nil {
			continue
		}
		dir := filepath.Join(s.proc, p.Name())
		fds, _ := os.ReadDir(filepath.Join(dir, "fd"))
		for _, fd := range fds {
			node, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
			if err != nil {
				continue
			}
			class := nodeClass(node)
			if class == "" {
				continue
			}
			u, ok := s.readUsage(filepath.Join(dir, "fdinfo", fd.Name()))
			if !ok {
				continue
			}
			key := clientKey{dev: deviceKey{u.Driver, s.device(u, class, filepath.Base(node))}}
			if u.HasID {
				key.id = u.ClientID
			} else {
				key.pid, key.fd = uint32(pid), fd.Name()
			}
			if c := seen[key]; c != nil {
				c.pid = min(c.pid, uint32(pid))
				continue
			}
			if len(seen) >= s.maxClients {
				s.dropped[dropClients]++
				continue
			}
			seen[key] = &client{usage: u, pid: uint32(pid)}
		}
	}
	return seen
}

// readUsage reads one fdinfo file, bounded; a malformed line is counted
// and the rest of the file kept.
func (s *scanner) readUsage(path string) (Usage, bool) {
	f, err := os.Open(path)
	if err != nil {
		return Usage{}, false
	}
	n, err := io.ReadFull(f, s.buf)
	f.Close()
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return Usage{}, false
	}
	u, ok, err := ParseFdinfo(s.buf[:n])
	if err != nil {
		s.dropped[dropMalformed]++
	}
	return u, ok
}

// nodeClass is the sysfs class of a DRM client's device file, "" for a
// file of none.
func nodeClass(path string) string {
	for _, c := range nodeClasses {
		if strings.HasPrefix(path, c.dev) {
			return c.class
		}
	}
	return ""
}

// device names a client's device: drm-pdev, else the device the node
// belongs to (/sys/class/drm/<node>/device, a platform device such as
// fde60000.gpu), else the node.
func (s *scanner) device(u Usage, class, node string) string {
	if u.PDev != "" {
		return u.PDev
	}
	if d, ok := s.nodes[node]; ok {
		return d
	}
	d := node
	if target, err := os.Readlink(filepath.Join(s.sysClass, class, node, "device")); err == nil {
		d = filepath.Base(target)
	}
	s.nodes[node] = d
	return d
}

// fold adds what a client's counters gained since the last scan to the
// series of the workload that holds it now. A counter read lower than
// before stays at the higher value until it catches up, as the spec asks.
func (s *scanner) fold(key clientKey, cgroupID uint64, u Usage) {
	last, known := s.clients[key]
	if !known {
		last = map[string]lastRead{}
		s.clients[key] = last
	}
	for name, e := range u.Engines {
		dev := s.devices[key.dev]
		if dev == nil {
			dev = map[string]*deviceEngine{}
			s.devices[key.dev] = dev
		}
		de := dev[name]
		if de == nil {
			de = &deviceEngine{}
			dev[name] = de
		}
		de.capacity = e.Capacity
		if e.HasTotal && e.TotalCycles > de.totalCycles {
			de.totalCycles, de.hasTotal = e.TotalCycles, true
		}
		k := engineKey{cgroupID, key.dev, name}
		ser := s.engines[k]
		if ser == nil {
			if len(s.engines) >= s.maxSeries {
				s.dropped[dropSeries]++
				continue
			}
			ser = &engineSeries{}
			s.engines[k] = ser
		}
		prev := last[name]
		if e.HasBusy {
			ser.hasBusy = true
			ser.busyNs += gain(prev.busyNs, e.BusyNs)
			prev.busyNs = max(prev.busyNs, e.BusyNs)
		}
		if e.HasCycles {
			ser.hasCycles = true
			ser.cycles += gain(prev.cycles, e.Cycles)
			prev.cycles = max(prev.cycles, e.Cycles)
		}
		last[name] = prev
	}
}

func gain(prev, now uint64) uint64 {
	if now < prev {
		return 0
	}
	return now - prev
}

// rate sets a series' utilization over the last scan interval: busy cycles
// over the GPU clock's where the driver gives both (xe), else busy time
// over wall time; divided by the engines in the class, at most 1 (reads
// of a busy engine a little apart can exceed it).
func (s *scanner) rate(e *engineSeries, de *deviceEngine, now time.Time) {
	capacity := float64(max(de.capacity, 1))
	e.hasRatio = false
	if !e.prevAt.IsZero() {
		switch {
		case e.hasCycles && de.hasTotal && de.totalCycles > e.prevTotal && e.prevTotal > 0:
			e.ratio, e.hasRatio = float64(e.cycles-e.prevCycles)/float64(de.totalCycles-e.prevTotal)/capacity, true
		case e.hasBusy && now.After(e.prevAt):
			e.ratio, e.hasRatio = float64(e.busyNs-e.prevBusyNs)/float64(now.Sub(e.prevAt).Nanoseconds())/capacity, true
		}
		e.ratio = min(e.ratio, 1)
	}
	e.prevBusyNs, e.prevCycles, e.prevTotal, e.prevAt = e.busyNs, e.cycles, de.totalCycles, now
}

// Forget drops the series of gone cgroups.
func (s *scanner) Forget(ids []uint64) {
	gone := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.engines {
		if gone[k.cgroup] {
			delete(s.engines, k)
		}
	}
}

// table is what a scrape sends: built by a scan, read-only after.
type table struct {
	workloads []workloadRow
	devices   []deviceRow
	dropped   map[string]uint64
}

type workloadRow struct {
	w       cgroup.Workload
	engines []engineRow
	memory  []memoryRow
}

type engineRow struct {
	labels             []string // vendor, driver, device, engine
	busyNs, cycles     uint64
	hasBusy, hasCycles bool
	ratio              float64
	hasRatio           bool
}

type memoryRow struct {
	labels []string // vendor, driver, device, region, kind
	bytes  uint64
}

type deviceRow struct {
	labels      []string // vendor, driver, device, engine
	capacity    uint64
	totalCycles uint64
	hasTotal    bool
}

func deviceLabels(d deviceKey) []string { return []string{vendorOf(d.driver), d.driver, d.device} }

// publish builds the table of the scan from the series and the live
// clients' memory, for the workloads the agent reports on.
func (s *scanner) publish(memory map[memoryKey]uint64) {
	rows := map[uint64]*workloadRow{}
	row := func(id uint64) *workloadRow {
		if r, ok := rows[id]; ok {
			return r
		}
		w, ok := s.resolver.Visible(id)
		if !ok {
			rows[id] = nil
			return nil
		}
		w.ID = 0
		r := &workloadRow{w: w}
		rows[id] = r
		return r
	}
	for k, e := range s.engines {
		if r := row(k.cgroup); r != nil {
			r.engines = append(r.engines, engineRow{append(deviceLabels(k.dev), k.engine), e.busyNs, e.cycles, e.hasBusy, e.hasCycles, e.ratio, e.hasRatio})
		}
	}
	for k, v := range memory {
		if r := row(k.cgroup); r != nil {
			r.memory = append(r.memory, memoryRow{append(deviceLabels(k.dev), k.mem.Region, k.mem.Kind), v})
		}
	}
	t := table{dropped: make(map[string]uint64, len(s.dropped))}
	for _, r := range rows {
		if r != nil {
			t.workloads = append(t.workloads, *r)
		}
	}
	for dev, engines := range s.devices {
		for name, de := range engines {
			t.devices = append(t.devices, deviceRow{append(deviceLabels(dev), name), de.capacity, de.totalCycles, de.hasTotal})
		}
	}
	for reason, n := range s.dropped {
		t.dropped[reason] = n
	}
	s.tableMu.Lock()
	s.table = t
	s.tableMu.Unlock()
}

// snapshot returns the table of the last scan; callers must not modify it.
func (s *scanner) snapshot() table {
	s.tableMu.RLock()
	defer s.tableMu.RUnlock()
	return s.table
}

// vendors names the maker of the GPUs each DRM driver drives; a driver
// not listed is its own vendor label.
var vendors = map[string]string{
	"amdgpu": "amd", "radeon": "amd",
	"i915": "intel", "xe": "intel",
	"nouveau": "nvidia", "nvidia-drm": "nvidia",
	"msm":      "qualcomm",
	"panfrost": "arm", "panthor": "arm", "lima": "arm",
	"v3d": "broadcom", "vc4": "broadcom",
	"etnaviv":   "vivante",
	"intel_vpu": "intel", "amdxdna_accel_driver": "amd",
}

func vendorOf(driver string) string {
	if v, ok := vendors[driver]; ok {
		return v
	}
	return driver
}
