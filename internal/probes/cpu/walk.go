package cpu

import (
	"fmt"
	"io"
	"os"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/probe"
)

// walker reads every cgroup's CPU figures in one walk of the cgroup2 tree
// (cpu.bpf.c): a read of the iterator runs it, the program writes the
// figures array, which the agent maps and copies.
type walker struct {
	prog   *ebpf.Program
	walked *ebpf.Variable
	mem    *ebpf.Memory
	root   *os.File // the cgroup2 mount's root directory, where walks start

	buf  []cpuCgroupFigures
	byID map[uint64]*cpuCgroupFigures // the last walk's, into buf
}

// newWalker walks the tree under root, the cgroup2 mount the agent reads:
// from its directory, not by cgroup id, which the kernel resolves in the
// agent's cgroup namespace, a subtree where the mount is the host's.
func newWalker(objs *cpuObjects, root string) (*walker, error) {
	mem, err := objs.Figures.Memory()
	if err != nil {
		return nil, fmt.Errorf("map the figures array: %w", err)
	}
	dir, err := os.Open(root)
	if err != nil {
		return nil, err
	}
	return &walker{prog: objs.CgroupCpu, walked: objs.Walked, mem: mem, root: dir, byID: map[uint64]*cpuCgroupFigures{}}, nil
}

// close closes the root's directory; nil is a no-op.
func (w *walker) close() {
	if w != nil {
		w.root.Close()
	}
}

// walk runs the program over the whole tree and keeps its figures; on an
// error it keeps none, and every cgroup's files are read that round.
func (w *walker) walk() error {
	clear(w.byID)
	f, err := probe.OpenCgroupIterAt(w.prog, unix.BPF_CGROUP_ITER_DESCENDANTS_PRE, w.root)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, f) // the program writes no output: one read walks the tree
	f.Close()
	if err != nil {
		return fmt.Errorf("walk the cgroup tree: %w", err)
	}
	var walked uint32
	if err := w.walked.Get(&walked); err != nil {
		return err
	}
	size := int(unsafe.Sizeof(cpuCgroupFigures{}))
	n := min(int(walked), int(w.mem.Size())/size) // past the array's end: read from files
	if n == 0 {
		return nil
	}
	if cap(w.buf) < n {
		w.buf = make([]cpuCgroupFigures, n)
	}
	w.buf = w.buf[:n]
	if _, err := w.mem.ReadAt(unsafe.Slice((*byte)(unsafe.Pointer(&w.buf[0])), n*size), 0); err != nil {
		return fmt.Errorf("read the figures array: %w", err)
	}
	// The walk fills every slot below walked: an empty or repeated one
	// would be a program out of step with this code.
	for i := range w.buf {
		f := &w.buf[i]
		if _, twice := w.byID[f.Id]; twice || f.Id == 0 {
			clear(w.byID)
			return fmt.Errorf("the walk wrote cgroup %d twice, or an empty slot", f.Id)
		}
		w.byID[f.Id] = f
	}
	return nil
}

// figures are the last walk's figures of the cgroup with this id, if it
// had them (a nil walker has none).
func (w *walker) figures(id uint64) (*cpuCgroupFigures, bool) {
	if w == nil {
		return nil, false
	}
	f, ok := w.byID[id]
	return f, ok
}
