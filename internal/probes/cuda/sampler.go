package cuda

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/orb8/orb8/internal/probe/uprobe"
)

// A uprobe is a trap, paid whatever its program does: ~1-3 us, as much as a
// launch-bound process spends on a whole kernel launch. So launches and GEMMs
// are hooked per process, in windows: the sampler attaches a process's
// sampled hooks, counts what the window sees (exactly, like any hooked call),
// measures the window's trap rate and, when the process would spend more
// than its budget on traps, detaches them for a gap that brings the average
// under budget. The calls made in a gap are estimated from the rate of the
// window before it. A process under budget keeps its hooks, and every call
// counts.
//
// One trap per launch: a window that hooks both launch levels (the runtime,
// libcudart, and the driver, libcuda, below it) learns which of them the
// process calls itself; later windows hook only those for their first and
// last quarters, so a runtime launch does not also trap in the driver, and
// both for their middle half, for a process that starts calling the other
// level.
//
// That middle half also measures what a trap costs the process, now: where
// its runtime launches reach the driver, a step of its launching thread
// (from one launch to the next) takes two traps there and one around it, and
// the difference of their mean times, less the programs' run time (timed
// apart), is a trap's. A trap's cost is no constant: on a shared VM it moves
// by a third from one second to the next with what runs beside, so a cost
// measured once, or in another process, misjudges a window's load, and with
// it the rate the gap after it is estimated from (where a trap costs more
// than a step's own work, each 0.1 us off moves the estimate by ~2.4%).
// Quarters on either side of the middle cancel a drift of the cost over the
// window. Where a window gives no measure (its process's launches never trap
// twice: it calls the driver itself, or calls both levels; it timed too few
// steps of either kind; a hook it attached is single-stepped, dearer than the
// launch traps measured; or the measure is off by more than a factor of
// three from the cost measured at start), the process's last measure stands
// in, else the cost measured at start.

// samplingTiming paces the windows.
type samplingTiming struct {
	window time.Duration // how long a window is open
	// exactWindow: how long the window of a process under budget is open
	// (its rate is checked that often).
	exactWindow time.Duration
	maxGap      time.Duration // the longest gap between two windows
}

var defaultTiming = samplingTiming{window: 50 * time.Millisecond, exactWindow: time.Second, maxGap: 10 * time.Second}

// minTimedSteps: the fewest steps of each kind (one launch trap, two) a
// window times for their difference to be taken as a trap's cost.
const minTimedSteps = 100

// maxCostRatio bounds a trap cost measured in a window, against the cost
// measured at start: a step that changes between quarters and middle half
// (a workload in phases) can give a difference that is no trap's.
const maxCostRatio = 3

// Steps longer than stepCap times the last window's mean one-trap step are
// not timed: one in which the thread was preempted or slept would swamp a
// mean of a few thousand. firstStepCap bounds them before a mean is known.
const (
	stepCap      = 8
	firstStepCap = time.Millisecond
)

// Where a window stands. A split window hooks the launch levels the process
// calls in its first and last quarters, and both in its middle half.
const (
	unsplit = iota
	firstQuarter
	middleHalf
	lastQuarter
)

// maxBusy bounds the share of a thread's time its traps are taken to have
// taken, where the cost measured for a trap exceeds what the window saw.
const maxBusy = 0.8

// livenessEvery: how often a process in a gap is checked to be alive, so
// that its estimate stops with it.
const livenessEvery = time.Second

// Launch levels, indexed like enum level.
const (
	levelRuntime = iota
	levelDriver
)

// sampledProcess is one process whose sampled calls are counted in windows.
type sampledProcess struct {
	pid   int
	files []uprobe.FileID // the hooked library files it maps

	links  []link.Link   // the open window's; none in a gap
	middle []link.Link   // those of its middle half only
	hooked [2]bool       // launch levels the open window hooks
	both   bool          // it hooked both levels, for all or part of it
	part   int           // where it stands (unsplit, firstQuarter...)
	cost   time.Duration // per trap, for the open window's hooks, as measured at start
	step   time.Duration // mean one-trap step of its last measuring window (0: none yet)
	// trapCost is what a launch trap cost it, besides its program, in its
	// last window that measured it (0: none yet).
	trapCost time.Duration
	opened   time.Time // when the open window opened
	gap      time.Time // when the gap began; zero while a window is open
	next     time.Time // when the window closes, or the gap ends

	levels  [2]bool  // launch levels it calls itself, as last learned
	windows int      // windows closed
	rate    estimate // per second in its last window, corrected for its traps
	cgroup  uint64   // of its last counted call
	exact   bool     // under budget: its windows follow each other without gap
}

// estimate is what gaps are estimated to hold, or rates: the sampled calls
// (sampledCalls order), then the GEMMs' FLOPs.
type estimate [len(sampledCalls) + 1]float64

const estimatedFlops = len(sampledCalls)

type sampler struct {
	prog    *ebpf.Program // sampled_entry
	windows *ebpf.Map
	targets func(ids []uprobe.FileID) []sampledTarget
	budget  float64 // of one CPU, per process
	// costs are measured when the first process is followed (0 before):
	// a node without CUDA pays nothing for it.
	costs  trapCosts
	timing samplingTiming
	log    *slog.Logger
	alive  func(pid int) bool

	mu       sync.Mutex
	windowID uint64 // the last window's id
	procs    map[int]*sampledProcess
	est      map[uint64]*estimate // by cgroup id: the gaps that ended
	wake     chan struct{}
}

func newSampler(prog *ebpf.Program, windows *ebpf.Map, targets func([]uprobe.FileID) []sampledTarget, budget float64,
	timing samplingTiming, log *slog.Logger) *sampler {
	return &sampler{
		prog: prog, windows: windows, targets: targets, budget: budget, timing: timing, log: log,
		alive: processAlive, procs: map[int]*sampledProcess{}, est: map[uint64]*estimate{}, wake: make(chan struct{}, 1),
	}
}

func processAlive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// track follows a process that maps hooked library files: its first window
// opens now.
func (s *sampler) track(pid int, files []uprobe.FileID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.procs[pid]; ok {
		p.files = files // the next window hooks what it maps then
		return
	}
	s.procs[pid] = &sampledProcess{pid: pid, files: files, levels: [2]bool{true, true}}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run opens and closes windows until ctx ends. Its timer runs only while
// processes are followed.
func (s *sampler) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		if next, ok := s.step(); ok {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// step opens and closes the windows that are due and returns when the next
// one is (ok false: no process is followed).
func (s *sampler) step() (next time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, p := range s.procs {
		now := time.Now()
		if !p.gap.IsZero() && !s.alive(pid) {
			s.accrue(p, now)
			delete(s.procs, pid)
			continue
		}
		if !now.Before(p.next) {
			// A process with hooks and no gap has a window open.
			switch open := p.gap.IsZero() && len(p.links) > 0; {
			case open && p.part == firstQuarter:
				s.widenWindow(p)
			case open && p.part == middleHalf:
				s.narrowWindow(p)
			case open:
				s.closeWindow(p)
			default:
				s.openWindow(p)
			}
			if p.next.IsZero() { // exited
				delete(s.procs, pid)
				continue
			}
		}
		due := p.next
		if !p.gap.IsZero() {
			due = minTime(due, now.Add(livenessEvery))
		}
		if !ok || due.Before(next) {
			next, ok = due, true
		}
	}
	return next, ok
}

// nextLevels returns the launch levels the process's next window hooks
// (in its quarters, if split): both for a process under budget (its hooks
// then stay for good, and a change of level would detach them for a
// moment), else those it was last seen to call.
func (s *sampler) nextLevels(p *sampledProcess) [2]bool {
	if p.exact {
		return [2]bool{true, true}
	}
	return p.levels
}

// measureCosts measures what a trap costs, once.
func (s *sampler) measureCosts() {
	if s.costs != (trapCosts{}) {
		return
	}
	costs, err := measureTrapCosts(s.prog, s.windows)
	if err != nil {
		costs = assumedTrapCosts
		s.log.Warn("measure the cost of a uprobe trap: assuming the dearest measured elsewhere", "err", err,
			"emulated", costs.emulated, "single_stepped", costs.stepped)
	} else {
		s.log.Info("measured the cost of a uprobe trap", "emulated", costs.emulated, "single_stepped", costs.stepped)
	}
	s.costs = costs
}

// openWindow attaches the process's sampled hooks and opens its window.
func (s *sampler) openWindow(p *sampledProcess) {
	s.measureCosts()
	levels := s.nextLevels(p)
	p.hooked = levels
	p.both = levels == [2]bool{true, true}
	links, cost, died := s.attachHooks(p, levels, true)
	p.links, p.cost = append(p.links, links...), cost
	if died {
		s.closeLinks(p)
		p.next = time.Time{}
		return
	}
	// The gap ends once the hooks are in (a launch while they go in is
	// counted, and estimated, twice: a millisecond's worth at most).
	now := time.Now()
	if !p.gap.IsZero() {
		s.accrue(p, now)
	}
	if len(p.links) == 0 {
		// Nothing to hook (yet): look again after a gap, estimating nothing.
		p.rate = estimate{}
		p.gap, p.next = now, now.Add(s.timing.maxGap)
		return
	}
	if err := s.newWindow(p); err != nil {
		// Without a window the calls cannot be sampled: counted, all of them.
		s.log.Warn("open CUDA sampling window: counting every call", "pid", p.pid, "err", err)
		p.exact = true
		p.opened, p.next = now, now.Add(s.timing.maxGap)
		return
	}
	p.opened = time.Now()
	p.next = p.opened.Add(s.timing.window)
	p.part = unsplit
	switch {
	case p.exact:
		p.next = p.opened.Add(s.timing.exactWindow)
	case !p.both:
		p.part = firstQuarter
		p.next = p.opened.Add(s.timing.window / 4)
	}
}

// widenWindow hooks, for the middle half of a window, the launch levels its
// quarters leave out.
func (s *sampler) widenWindow(p *sampledProcess) {
	p.part, p.next = middleHalf, p.opened.Add(s.timing.window*3/4)
	// A process gone meanwhile is found out when the window closes.
	links, cost, _ := s.attachHooks(p, [2]bool{!p.hooked[levelRuntime], !p.hooked[levelDriver]}, false)
	if len(links) > 0 {
		p.middle, p.cost, p.both = links, max(p.cost, cost), true
	}
}

// attachHooks attaches a process's sampled hooks of the given launch
// levels (and its other sampled calls, with others) and returns their
// links and what a trap costs at the dearest of them; died: the process
// exited meanwhile, and nothing more was attached.
func (s *sampler) attachHooks(p *sampledProcess, levels [2]bool, others bool) (links []link.Link, cost time.Duration, died bool) {
	for _, t := range s.targets(p.files) {
		addrs, cookies, c := sampledHooks(t, levels, others, s.costs)
		if len(addrs) > 0 && !died {
			l, err := attachSampled(t, s.prog, addrs, cookies, p.pid)
			switch {
			case err == nil:
				links = append(links, l)
				cost = max(cost, c)
			case !s.alive(p.pid):
				died = true
			default:
				s.log.Debug("attach sampled CUDA hooks", "library", t.lib.name, "pid", p.pid, "err", err)
			}
		}
		t.file.Close() // every target's: each came with a descriptor of its own
	}
	return links, cost, died
}

// narrowWindow unhooks, for the last quarter of a window, what its middle
// half added.
func (s *sampler) narrowWindow(p *sampledProcess) {
	p.part, p.next = lastQuarter, p.opened.Add(s.timing.window)
	closeLinks(p.middle)
	p.middle = nil
}

// closeWindow reads the open window, learns the process's launch levels and
// call rates, and decides: under budget, the next window follows at once;
// over, the hooks come off for a gap that brings the average under budget.
func (s *sampler) closeWindow(p *sampledProcess) {
	var w cudaWindow
	err := s.windows.Lookup(uint32(p.pid), &w)
	end := time.Now()
	if err != nil {
		// No window (it could not be opened): a process counted exactly
		// until it ends.
		if !s.alive(p.pid) {
			s.closeLinks(p)
			p.next = time.Time{}
			return
		}
		p.next = end.Add(s.timing.maxGap)
		return
	}
	secs := end.Sub(p.opened).Seconds()
	p.windows++
	if p.both && w.Launches[levelRuntime]+w.Launches[levelDriver] > 0 {
		p.levels = [2]bool{w.Launches[levelRuntime] > 0, w.Launches[levelDriver] > 0}
	}
	if w.CgroupId != 0 {
		p.cgroup = w.CgroupId
	}
	s.measureInWindow(p, w)
	trapTime := float64(w.Traps) * p.cost.Seconds()
	if p.trapCost > 0 && p.cost <= s.costs.emulated {
		trapTime = float64(w.Traps)*p.trapCost.Seconds() + time.Duration(w.BpfNs).Seconds()
	}
	load := trapTime / secs
	// The window's traps slowed its threads down: between windows, each
	// calls faster by the share of its time the traps took (the load, spread
	// over the threads that trapped).
	busy := min(load/float64(max(w.Threads, 1)), maxBusy)
	seen := estimate{float64(w.Launches[levelRuntime] + w.Launches[levelDriver]), float64(w.Gemms), float64(w.GemmFlops)}
	for i := range seen {
		p.rate[i] = seen[i] / secs / (1 - busy)
	}
	s.log.Debug("CUDA sampling window", "pid", p.pid, "seconds", secs, "threads", w.Threads, "traps", w.Traps,
		"launches", w.Launches, "gemms", w.Gemms, "steps", w.Steps, "step_ns", w.StepNs, "bpf_ns", w.BpfNs,
		"trap_cost", p.trapCost, "load", load, "rates", p.rate)
	wasOver := !p.exact && p.windows > 1
	p.exact = load <= s.budget
	if p.exact && p.hooked == s.nextLevels(p) && s.alive(p.pid) {
		// Under budget, and hooked as the next window would be: the hooks
		// stay, a new window starts.
		if err := s.newWindow(p); err == nil {
			p.opened = time.Now()
			p.next = p.opened.Add(s.timing.exactWindow)
			return
		}
	}
	// The gap begins as the hooks come out, at the start of the detach: the
	// kernel removes them first, then waits for their last runs.
	p.gap = end
	s.closeLinks(p)
	if !s.alive(p.pid) {
		p.gap, p.next = time.Time{}, time.Time{}
		return
	}
	if p.exact {
		s.openWindow(p)
		return
	}
	// Attached for secs, detached for gap: load*secs/(secs+gap) = budget.
	gap := min(time.Duration(float64(end.Sub(p.opened))*(load/s.budget-1)), s.timing.maxGap)
	if !wasOver {
		// Newly over budget: this window may have caught the start of its
		// launches, and seen fewer than a whole window holds. Another
		// window, soon, measures the rate the long gap is estimated from.
		gap = min(gap, s.timing.window)
	}
	p.next = time.Now().Add(gap)
}

// measureInWindow takes what a launch trap cost the process from a window
// split in quarters and a middle half, where it is plausible; a window that
// timed too few steps also drops the step cap it was timed with, which may
// have left out every step of a process whose steps grew.
func (s *sampler) measureInWindow(p *sampledProcess, w cudaWindow) {
	if p.part != lastQuarter {
		return
	}
	c, step, ok := trapCostInWindow(w)
	if !ok {
		if w.Steps[0] < minTimedSteps {
			p.step = 0
		}
		return
	}
	if c < s.costs.emulated/maxCostRatio || c > s.costs.emulated*maxCostRatio {
		return
	}
	p.trapCost, p.step = c, step
}

// trapCostInWindow returns what a launch trap cost a process in a window,
// besides its program, and the window's mean one-trap step, from the steps
// it timed (ok false: too few of either kind, or no difference).
func trapCostInWindow(w cudaWindow) (cost, step time.Duration, ok bool) {
	if w.Steps[0] < minTimedSteps || w.Steps[1] < minTimedSteps {
		return 0, 0, false
	}
	one := float64(w.StepNs[0]) / float64(w.Steps[0])
	two := float64(w.StepNs[1]) / float64(w.Steps[1])
	if two <= one {
		return 0, 0, false
	}
	return time.Duration(two - one), time.Duration(one), true
}

// newWindow opens a process's window in the kernel.
func (s *sampler) newWindow(p *sampledProcess) error {
	s.windowID++
	limit := firstStepCap
	if p.step > 0 {
		limit = stepCap * p.step
	}
	return s.windows.Put(uint32(p.pid), cudaWindow{Id: s.windowID, StepCap: uint64(limit.Nanoseconds())})
}

func (s *sampler) closeLinks(p *sampledProcess) {
	closeLinks(p.links)
	closeLinks(p.middle)
	p.links, p.middle = nil, nil
	if err := s.windows.Delete(uint32(p.pid)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		s.log.Debug("close CUDA sampling window", "pid", p.pid, "err", err)
	}
}

// accrue adds the estimate of a process's gap, up to until, to its
// workload's; the gap ends there.
func (s *sampler) accrue(p *sampledProcess, until time.Time) {
	secs := until.Sub(p.gap).Seconds()
	p.gap = time.Time{}
	if p.cgroup == 0 || secs <= 0 {
		return
	}
	e, ok := s.est[p.cgroup]
	if !ok {
		e = &estimate{}
		s.est[p.cgroup] = e
	}
	for i, r := range p.rate {
		e[i] += r * secs
	}
}

// estimates returns, by cgroup id, the calls estimated to have been made in
// gaps: those that ended, and those going on up to now. Each grows with
// time only, so the counters they add to stay monotonic.
func (s *sampler) estimates() map[uint64]estimate {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	out := make(map[uint64]estimate, len(s.est))
	for id, e := range s.est {
		out[id] = *e
	}
	for _, p := range s.procs {
		if p.gap.IsZero() || p.cgroup == 0 {
			continue
		}
		e := out[p.cgroup]
		for i, r := range p.rate {
			e[i] += r * now.Sub(p.gap).Seconds()
		}
		out[p.cgroup] = e
	}
	return out
}

// dutyCycled counts the processes whose sampled calls are counted in
// windows with gaps between them.
func (s *sampler) dutyCycled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.procs {
		if p.windows > 0 && !p.exact {
			n++
		}
	}
	return n
}

// watching reports whether a process's sampled hooks are attached.
func (s *sampler) watching(pid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.procs[pid]
	return ok && len(p.links) > 0
}

// forget drops the estimates of cgroups that are gone.
func (s *sampler) forget(ids []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		delete(s.est, id)
	}
}

func (s *sampler) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, p := range s.procs {
		s.closeLinks(p)
		delete(s.procs, pid)
	}
}

// sampledHooks lists the sampled hooks of a library file to attach for a
// window that hooks the given launch levels (and the other sampled calls,
// GEMMs, with others), with their cookies, and what a trap costs at the
// dearest of them.
func sampledHooks(t sampledTarget, levels [2]bool, others bool, costs trapCosts) (addrs, cookies []uint64, cost time.Duration) {
	for _, h := range t.lib.hooks {
		call := h.sampled()
		if call == "" || (call == callLaunch && !levels[levelOf(t.lib)]) || (call != callLaunch && !others) {
			continue
		}
		pt, ok := t.points[h.symbol]
		if !ok {
			continue
		}
		addrs = append(addrs, pt.Offset)
		cookies = append(cookies, t.lib.cookie(h, pt))
		cost = max(cost, costs.of(pt.Emulated))
	}
	return addrs, cookies, cost
}

func levelOf(l *library) int {
	if l.driver {
		return levelDriver
	}
	return levelRuntime
}

// attachSampled attaches sampled_entry to the given offsets of an open
// library file for one process: one link, attached and detached at once.
func attachSampled(t sampledTarget, prog *ebpf.Program, addrs, cookies []uint64, pid int) (link.Link, error) {
	ex, err := link.OpenExecutable(uprobe.FDPath(int(t.file.Fd())))
	if err != nil {
		return nil, err
	}
	return ex.UprobeMulti(nil, prog, &link.UprobeMultiOptions{Addresses: addrs, Cookies: cookies, PID: uint32(pid)})
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
