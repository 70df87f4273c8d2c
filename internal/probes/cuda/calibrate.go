package cuda

import (
	"bufio"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/probe/uprobe"
)

// trapCosts are what one hit of a sampled hook costs the process that traps,
// by whether the kernel emulates the probed instruction or single-steps it.
type trapCosts struct{ emulated, stepped time.Duration }

func (c trapCosts) of(emulated bool) time.Duration {
	if emulated {
		return c.emulated
	}
	return c.stepped
}

// assumedTrapCosts stand in when this machine's cannot be measured: the
// dearest measured on the machines of docs/benchmarks.md.
var assumedTrapCosts = trapCosts{emulated: 3 * time.Microsecond, stepped: 45 * time.Microsecond}

const (
	calibrationCalls  = 200
	calibrationRounds = 40
)

// Calibration targets: functions of the agent's own executable, hooked in
// the agent only. On amd64 the first opens with push %rbp (a nosplit function
// with a frame), which the kernel emulates, like the CUDA functions after
// their endbr64; the second with an instruction it single-steps.
//
//go:noinline
//go:nosplit
func trapTargetEmulated(x int) int {
	var a [4]int
	a[x&3] = x
	return a[(x+1)&3] + 1
}

//go:noinline
func trapTargetStepped(x int) int { return x + 1 }

// measureTrapCosts times sampled_entry's trap on this machine: calls of a
// function of the agent, unhooked and hooked (for the agent's process only,
// with a window open for it, as a sampled process has, and counted as a
// launch, apart), in alternating rounds.
func measureTrapCosts(prog *ebpf.Program, windows *ebpf.Map) (trapCosts, error) {
	self := uint32(os.Getpid())
	if err := windows.Put(self, cudaWindow{}); err != nil {
		return trapCosts{}, err
	}
	defer windows.Delete(self)
	var c trapCosts
	for _, target := range []func(int) int{trapTargetEmulated, trapTargetStepped} {
		cost, insn, err := measureTrap(prog, target)
		if err != nil {
			return trapCosts{}, err
		}
		if uprobe.Emulated(insn) {
			c.emulated = cost
		} else {
			c.stepped = cost
		}
	}
	// Where both targets are of one kind (arm64 emulates neither), the other
	// kind costs at least as much.
	c.emulated = cmpOr(c.emulated, c.stepped)
	c.stepped = max(c.stepped, c.emulated)
	return c, nil
}

func cmpOr(a, b time.Duration) time.Duration {
	if a == 0 {
		return b
	}
	return a
}

// measureTrap returns what a trap at a function of the agent costs, and the
// instruction there.
func measureTrap(prog *ebpf.Program, target func(int) int) (time.Duration, []byte, error) {
	off, err := selfFileOffset(reflect.ValueOf(target).Pointer())
	if err != nil {
		return 0, nil, err
	}
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		return 0, nil, err
	}
	defer exe.Close()
	insn := make([]byte, 16)
	if _, err := exe.ReadAt(insn, int64(off)); err != nil {
		return 0, nil, err
	}
	ex, err := link.OpenExecutable(uprobe.FDPath(int(exe.Fd())))
	if err != nil {
		return 0, nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, nil, fmt.Errorf("read the thread's CPU clock: %w", err)
	}
	opts := &link.UprobeMultiOptions{Addresses: []uint64{off}, Cookies: []uint64{uint64(cudaOpOP_CALIBRATE) | uint64(cudaCookieCOOKIE_OUTER)}, PID: uint32(os.Getpid())}
	var plain, hooked []time.Duration
	for range calibrationRounds {
		plain = append(plain, timeCalls(target))
	}
	l, err := ex.UprobeMulti(nil, prog, opts)
	if err != nil {
		return 0, nil, fmt.Errorf("hook the agent's calibration function: %w", err)
	}
	defer l.Close()
	for range calibrationRounds {
		hooked = append(hooked, timeCalls(target))
	}
	// The cheapest rounds: the others took interrupts and cache misses from
	// what else runs, such as the very process that started the calibration.
	return max(slices.Min(hooked)-slices.Min(plain), 0) / calibrationCalls, insn, nil
}

// timeCalls times calls of target, through a function value (calls the
// compiler can neither inline nor drop), in the CPU time of the calling
// thread: time it spent preempted is not the trap's.
func timeCalls(target func(int) int) time.Duration {
	start := threadCPUTime()
	for i := range calibrationCalls {
		target(i)
	}
	return threadCPUTime() - start
}

// threadCPUTime reads the calling thread's CPU clock, which measureTrap
// checked can be read.
func threadCPUTime() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// selfFileOffset returns where the agent's code at pc lies in its
// executable file, from the mapping that holds it.
func selfFileOffset(pc uintptr) (uint64, error) {
	var exe unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &exe); err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m, ok, err := uprobe.ParseMapsLine(sc.Text())
		if err != nil || !ok || uint64(pc) < m.Start || uint64(pc) >= m.End {
			continue
		}
		if m.ID != (uprobe.FileID{Dev: exe.Dev, Inode: exe.Ino}) {
			return 0, fmt.Errorf("the agent's code at %#x is not mapped from its executable", pc)
		}
		return uint64(pc) - m.Start + m.Offset, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("the agent's code at %#x is not mapped", pc)
}
