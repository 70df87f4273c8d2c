package probe

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// CgroupWalk reads every cgroup's figures in one walk of a cgroup tree by
// a program of orb8_cgroup_walk.h: a read of the iterator runs it, the
// program writes the figures array, which the agent maps and copies. T is
// the program's record, whose first field is the cgroup's id. Cgroups it
// has no figures of are the caller's to read from their files.
type CgroupWalk[T any] struct {
	prog   *ebpf.Program
	walked *ebpf.Variable
	mem    *ebpf.Memory
	root   *os.File // the tree's root directory, where walks start

	buf     []T
	byID    map[uint64]*T // the last walk's, into buf
	visited int           // cgroups the last walk visited, figures or not
	newest  uint64        // the largest id of the last walk's figures
	whole   bool          // the last walk had every cgroup of the tree

	err atomic.Pointer[error] // what Err returns
}

// NewCgroupWalk walks the tree under root (a cgroup2 mount, or a v1
// hierarchy's) with prog, which fills figures and counts in walked: from
// root's directory, not by cgroup id, which the kernel resolves in the
// agent's cgroup namespace, a subtree where the mount is the host's.
func NewCgroupWalk[T any](prog *ebpf.Program, figures *ebpf.Map, walked *ebpf.Variable, root string) (*CgroupWalk[T], error) {
	mem, err := figures.Memory()
	if err != nil {
		return nil, fmt.Errorf("map the figures array: %w", err)
	}
	dir, err := os.Open(root)
	if err != nil {
		return nil, err
	}
	return &CgroupWalk[T]{prog: prog, walked: walked, mem: mem, root: dir, byID: map[uint64]*T{}}, nil
}

// Close closes the root's directory; nil is a no-op.
func (w *CgroupWalk[T]) Close() {
	if w != nil {
		w.root.Close()
	}
}

// Walk runs the program over the whole tree and keeps its figures; on an
// error it keeps none. Err tells why from any goroutine.
func (w *CgroupWalk[T]) Walk() error {
	err := w.walk()
	w.whole = err == nil && w.past() == 0
	switch past := w.past(); {
	case err != nil:
		err = fmt.Errorf("the last walk failed, each cgroup's files were read: %w", err)
	case past > 0:
		err = fmt.Errorf("the walk has room for %d cgroups: the files of %d more are read", len(w.byID), past)
	}
	if err != nil {
		w.err.Store(&err)
	} else {
		w.err.Store(nil)
	}
	return err
}

// Err is why the last walk failed or left cgroups to their files (past
// the array's end); nil after one that had them all, before the first,
// and for a nil walk.
func (w *CgroupWalk[T]) Err() error {
	if w == nil {
		return nil
	}
	if err := w.err.Load(); err != nil {
		return *err
	}
	return nil
}

func (w *CgroupWalk[T]) walk() error {
	clear(w.byID)
	w.visited, w.newest = 0, 0
	f, err := OpenCgroupIterAt(w.prog, unix.BPF_CGROUP_ITER_DESCENDANTS_PRE, w.root)
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
	w.visited = int(walked)
	var zero T
	size := int(unsafe.Sizeof(zero))
	n := min(int(walked), int(w.mem.Size())/size) // past the array's end: no figures
	if n == 0 {
		return nil
	}
	if cap(w.buf) < n {
		w.buf = make([]T, n)
	}
	w.buf = w.buf[:n]
	if _, err := w.mem.ReadAt(unsafe.Slice((*byte)(unsafe.Pointer(&w.buf[0])), n*size), 0); err != nil {
		return fmt.Errorf("read the figures array: %w", err)
	}
	// The walk fills every slot below walked: an empty or repeated one
	// would be a program out of step with this code.
	for i := range w.buf {
		f := &w.buf[i]
		id := *(*uint64)(unsafe.Pointer(f))
		if _, twice := w.byID[id]; twice || id == 0 {
			clear(w.byID)
			return fmt.Errorf("the walk wrote cgroup %d twice, or an empty slot", id)
		}
		w.byID[id] = f
		w.newest = max(w.newest, id)
	}
	return nil
}

// Figures are the last walk's figures of the cgroup with this id, if it
// had them (a nil walk has none).
func (w *CgroupWalk[T]) Figures(id uint64) (*T, bool) {
	if w == nil {
		return nil, false
	}
	f, ok := w.byID[id]
	return f, ok
}

// Newest is the largest cgroup id of the last walk, if it had every
// cgroup of the tree; false after one that failed or fell short, and
// before the first. A hierarchy's ids only grow (kernfs allocates them
// cyclically and counts the wraps in the high bits), so a newest id no
// larger than one read before says that no cgroup was made since.
func (w *CgroupWalk[T]) Newest() (uint64, bool) {
	if w == nil || !w.whole {
		return 0, false
	}
	return w.newest, true
}

// Len is how many cgroups the last walk has figures of.
func (w *CgroupWalk[T]) Len() int { return len(w.byID) }

// past is how many cgroups the last walk found past the array's end,
// without figures.
func (w *CgroupWalk[T]) past() int { return max(w.visited-len(w.byID), 0) }
