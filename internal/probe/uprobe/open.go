package uprobe

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A mapped library file is reached through its process's root, which the
// process's container controls: any path component may be replaced, at any
// moment, by a symbolic link to a file of the host. So the file is opened
// once, from the root's descriptor, following no link; checked to be the file
// the process maps; and then read and attached through that descriptor only
// (FDPath), never by a path that is walked again.

// OpenMapped opens, for reading, the file a process maps, as the process
// sees it, and checks that it is the mapped file (device and inode).
func OpenMapped(proc string, pid int, m Mapping) (*os.File, error) {
	root, err := unix.Open(filepath.Join(proc, strconv.Itoa(pid), "root"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the process's root: %w", err)
	}
	defer unix.Close(root)
	// RESOLVE_IN_ROOT: "/" and ".." stay inside the process's root, as they
	// do for the process. RESOLVE_NO_SYMLINKS (magic links included): the
	// kernel writes a mapping's path with links already resolved, so a link
	// on the way was put there since. O_PATH: the file is not opened for I/O
	// before it is known to be a regular file; opening a FIFO would block,
	// and opening a device node has effects.
	fd, err := unix.Openat2(root, m.Path, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return nil, fmt.Errorf("open in the process's root: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("not a regular file (mode %#o)", st.Mode)
	}
	// Reopened through the descriptor: the same file, no path walked.
	f, err := os.Open(FDPath(fd))
	if err != nil {
		return nil, err
	}
	id, err := mappedID(f)
	if err == nil && id != m.ID {
		err = fmt.Errorf("the file is %v, the mapping's %v: replaced since", id, m.ID)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// FDPath names an open file of this process for the kernel (uprobe attach)
// and for reopening: the path leads to the file itself, whatever happened
// to the path it was opened by.
func FDPath(fd int) string {
	return "/proc/self/fd/" + strconv.Itoa(fd)
}

// mappedID is the device and inode the kernel writes in maps for a mapping
// of f: the identity the process's maps line states, by the same rule. stat
// can differ: on overlayfs before Linux 6.8, maps names the layer's file and
// stat the overlay's device.
func mappedID(f *os.File) (FileID, error) {
	// One page, never touched: nothing is read from the file.
	mem, err := unix.Mmap(int(f.Fd()), 0, 1, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return FileID{}, fmt.Errorf("map the file: %w", err)
	}
	defer unix.Munmap(mem)
	start := fmt.Sprintf("%08x-", uintptr(unsafe.Pointer(unsafe.SliceData(mem))))
	maps, err := os.Open("/proc/self/maps")
	if err != nil {
		return FileID{}, err
	}
	defer maps.Close()
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, start) {
			fields := strings.Fields(line)
			if len(fields) < 5 {
				break
			}
			return parseFileID(fields[3], fields[4])
		}
	}
	if err := sc.Err(); err != nil {
		return FileID{}, err
	}
	return FileID{}, fmt.Errorf("own mapping at %s not in /proc/self/maps", strings.TrimSuffix(start, "-"))
}
