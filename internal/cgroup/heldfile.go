package cgroup

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Refreshers keep the controller files they read every round open: reading
// an open file from offset 0 costs a fraction of opening it again. On a node
// with thousands of cgroups that is two or three descriptors each, and a
// process out of descriptors accepts no more connections: no scrape, no
// API. So the files held open share a budget, a share of the process's
// descriptor limit; past it a file is opened for each read.

// heldLimit is how many files the refreshers together may hold open.
var heldLimit = func() int64 {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	// Half the soft limit (Go raises it to the hard one at start), and
	// never so much that fewer than 1,024 stay for everything else.
	return max(0, min(int64(lim.Cur/2), int64(lim.Cur)-1024))
}()

// held counts the files held open now.
var held atomic.Int64

// File is a controller file of a cgroup, held open while the budget
// allows, else opened for each read.
type File struct {
	path string
	fd   int // -1: not held
}

// OpenFile opens path, which must exist: the error is the open's. The file
// is held open if the budget allows.
func OpenFile(path string) (*File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if held.Add(1) > heldLimit {
		held.Add(-1)
		unix.Close(fd)
		fd = -1
	}
	return &File{path: path, fd: fd}, nil
}

// Read reads the file from its start into buf; an error means it is gone
// (a removed cgroup's files fail with ENODEV, or no longer open).
func (f *File) Read(buf []byte) ([]byte, error) {
	if f.fd < 0 {
		return ReadInto(f.path, buf)
	}
	n, err := unix.Pread(f.fd, buf, 0)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// Close releases the file's descriptor, if held.
func (f *File) Close() {
	if f.fd >= 0 {
		unix.Close(f.fd)
		held.Add(-1)
		f.fd = -1
	}
}

// Held reports whether the file is held open.
func (f *File) Held() bool { return f.fd >= 0 }
