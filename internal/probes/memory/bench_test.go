package memory

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

// benchCgroups is how many extra cgroups the refresher benchmark reads.
const benchCgroups = 2000

// BenchmarkRefresh measures a refresh of the memory table and a rescan of
// the cgroup tree with benchCgroups extra cgroups, every other one
// memory-limited (those also have their memory.stat read and their ETA
// computed).
func BenchmarkRefresh(b *testing.B) {
	testutil.RequireRoot(b)
	parent := testutil.NewCgroup(b)
	files, err := findHierarchy(filepath.Dir(parent.Dir))
	if err != nil {
		b.Fatal(err)
	}
	dirs := []string{parent.Dir}
	if files.root != filepath.Dir(parent.Dir) {
		dirs = append(dirs, filepath.Join(files.root, parent.Path))
		if err := os.Mkdir(dirs[1], 0o755); err != nil {
			b.Fatal(err)
		}
	}
	for i := range benchCgroups {
		for _, d := range dirs {
			if err := os.Mkdir(filepath.Join(d, fmt.Sprint(i)), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if i%2 == 0 {
			limit := filepath.Join(dirs[len(dirs)-1], fmt.Sprint(i), files.limit)
			if err := os.WriteFile(limit, []byte("1073741824"), 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Cleanup(func() {
		for i := range benchCgroups {
			for _, d := range dirs {
				os.Remove(filepath.Join(d, fmt.Sprint(i)))
			}
		}
		if len(dirs) > 1 {
			os.Remove(dirs[1])
		}
	})
	// Two refreshers of the tree: one whose resolver follows a watcher
	// (it lists the cgroups), one whose resolver follows none (its
	// refresher walks the tree).
	refresherOf := func(follow bool, walk *probe.CgroupWalk[memoryCgroupMemory]) *refresher {
		res, err := cgroup.NewResolver(filepath.Dir(parent.Dir), 1<<16)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { res.Close() })
		if follow {
			if err := res.Follow(noLosses{}); err != nil {
				b.Fatal(err)
			}
		}
		r := newRefresher(files, filepath.Dir(parent.Dir), res, defaultWindow)
		r.walk = walk
		b.Cleanup(func() {
			r.walk = nil // the probe's
			r.close()
		})
		r.refresh(time.Now()) // a walk's round and a rescan: limits and walked cgroups known
		return r
	}
	r, walking := refresherOf(true, nil), refresherOf(false, nil)
	walked := refresherOf(true, quietProbe(b).figures.walk)
	// A refresh re-reads open files, or reads the walk of the memory
	// hierarchy; a rescan (every rescanEvery refreshes) lists the cgroups
	// from the resolver that follows the tree, or walks the tree where none
	// does.
	for _, c := range []struct {
		name string
		run  func()
	}{
		{"read", func() { r.rounds = walkEvery; r.refresh(time.Now()) }},
		{"read-walk", func() { walked.rounds = walkEvery; walked.refresh(time.Now()) }},
		{"read-between-walks", func() { walked.rounds = 1; walked.refresh(time.Now()) }},
		{"rescan-walk", walking.rescan},
		{"rescan-known", r.rescan},
	} {
		b.Run(c.name, func(b *testing.B) {
			cpu := cpuTime(b)
			for b.Loop() {
				c.run()
			}
			b.ReportMetric(float64((cpuTime(b)-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(len(r.cgroups)), "cgroups")
		})
	}
}

// BenchmarkPageFault measures a user page fault (first touch of a fresh
// anonymous page, then its unmapping) without the probe, with it, and with
// page allocation tracking on too. On a shared machine the time per fault is
// noisy; bpf-ns/fault, the probe's programs' own run time per fault from the
// kernel's BPF statistics, is not.
func BenchmarkPageFault(b *testing.B) {
	testutil.RequireRoot(b)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatal(err)
	}
	defer stats.Close()
	for _, c := range []struct {
		name  string
		probe func() *Probe
	}{{"no-probe", nil}, {"memory", func() *Probe { return New(DefaultOptions()) }},
		{"memory+page-alloc", func() *Probe { return New(Options{PageAllocations: true}) }}} {
		b.Run(c.name, func(b *testing.B) {
			var progs map[string]*ebpf.Program
			if c.probe != nil {
				progs = start(b, c.probe()).probe.objs.Programs()
			}
			const pages = 1024
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu, bpf := threadCPUTime(b), bpfRunTime(b, progs)
			for b.Loop() {
				mem, err := unix.Mmap(-1, 0, pages*pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
				if err != nil {
					b.Fatal(err)
				}
				for i := 0; i < len(mem); i += pageSize {
					mem[i] = 1
				}
				unix.Munmap(mem)
			}
			faults := float64(b.N * pages)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/faults, "ns/fault")
			b.ReportMetric(float64((threadCPUTime(b)-cpu).Nanoseconds())/faults, "cpu-ns/fault")
			b.ReportMetric(float64((bpfRunTime(b, progs)-bpf).Nanoseconds())/faults, "bpf-ns/fault")
		})
	}
}

// bpfRunTime is the time the kernel spent in the programs so far.
func bpfRunTime(b *testing.B, progs map[string]*ebpf.Program) time.Duration {
	var sum time.Duration
	for _, p := range progs {
		st, err := p.Stats()
		if err != nil {
			b.Fatal(err)
		}
		sum += st.Runtime
	}
	return sum
}

// threadCPUTime is the CPU time the calling OS thread used so far.
func threadCPUTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuTime is the CPU time (user and system) this process used so far: on a
// shared machine a better measure of cost than wall time.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// noLosses is a cgroup watcher that lost no event.
type noLosses struct{}

func (noLosses) Lost() (uint64, bool) { return 0, true }
func (noLosses) Sync()                {}
