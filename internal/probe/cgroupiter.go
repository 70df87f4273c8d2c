package probe

import (
	"fmt"
	"os"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// iterCgroupInfo is the cgroup member of union bpf_iter_link_info
// (include/uapi/linux/bpf.h, Linux 6.1).
type iterCgroupInfo struct {
	Order    uint32
	CgroupFD uint32
	CgroupID uint64
}

// linkCreateIterAttr is union bpf_attr for BPF_LINK_CREATE of an iterator.
// cilium/ebpf's link.AttachIter passes only a map, not a cgroup. IterInfo is
// a pointer, not a uintptr, so that the garbage collector keeps it current.
type linkCreateIterAttr struct {
	ProgFD      uint32
	TargetFD    uint32
	AttachType  uint32
	Flags       uint32
	IterInfo    unsafe.Pointer
	IterInfoLen uint32
	_           uint32
}

type iterCreateAttr struct {
	LinkFD uint32
	Flags  uint32
}

func bpfFD(cmd uintptr, attr unsafe.Pointer, size uintptr) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// OpenCgroupIter runs prog, an iter/cgroup program, over the cgroups that
// order (unix.BPF_CGROUP_ITER_*) takes from the cgroup2 cgroup with this
// id (0: the root of the caller's cgroup namespace), which must be in the
// caller's cgroup namespace: reading the file runs it. The kernel walks a
// tree in one read only: its output must fit one read (or go to maps), as
// a second read of an unfinished walk fails with EOPNOTSUPP.
func OpenCgroupIter(prog *ebpf.Program, order uint32, id uint64) (*os.File, error) {
	f, err := openCgroupIter(prog, iterCgroupInfo{Order: order, CgroupID: id})
	if err != nil {
		return nil, fmt.Errorf("cgroup %d: %w", id, err)
	}
	return f, nil
}

// OpenCgroupIterAt is OpenCgroupIter from the cgroup of dir, an open
// cgroup directory of any hierarchy, v1 ones included.
func OpenCgroupIterAt(prog *ebpf.Program, order uint32, dir *os.File) (*os.File, error) {
	f, err := openCgroupIter(prog, iterCgroupInfo{Order: order, CgroupFD: uint32(dir.Fd())})
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", dir.Name(), err)
	}
	return f, nil
}

func openCgroupIter(prog *ebpf.Program, info iterCgroupInfo) (*os.File, error) {
	link := linkCreateIterAttr{ProgFD: uint32(prog.FD()), AttachType: unix.BPF_TRACE_ITER,
		IterInfo: unsafe.Pointer(&info), IterInfoLen: uint32(unsafe.Sizeof(info))}
	linkFD, err := bpfFD(unix.BPF_LINK_CREATE, unsafe.Pointer(&link), unsafe.Sizeof(link))
	if err != nil {
		return nil, fmt.Errorf("attach cgroup iterator: %w", err)
	}
	it := iterCreateAttr{LinkFD: uint32(linkFD)}
	iterFD, err := bpfFD(unix.BPF_ITER_CREATE, unsafe.Pointer(&it), unsafe.Sizeof(it))
	unix.Close(linkFD) // the iterator holds the link
	if err != nil {
		return nil, fmt.Errorf("create cgroup iterator: %w", err)
	}
	return os.NewFile(uintptr(iterFD), "bpf_iter"), nil
}
