package cgroup

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Helpers for reading the controller files of a cgroup (memory.current,
// cpu.stat, cpuacct.usage, ...), shared by the probes that refresh figures
// from them.

// HasController says whether the cgroup2 tree at v2Root has controller
// (e.g. "memory", "cpu") enabled at its root.
func HasController(v2Root, controller string) bool {
	b, err := os.ReadFile(filepath.Join(v2Root, "cgroup.controllers"))
	if err != nil {
		return false
	}
	for _, f := range strings.Fields(string(b)) {
		if f == controller {
			return true
		}
	}
	return false
}

// ParseCount reads a counter file: one decimal number (bytes, ns, ...).
func ParseCount(b []byte) (uint64, error) {
	s := string(bytes.TrimSpace(b))
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a count: %q", s)
	}
	return v, nil
}

// StatValue returns the value of key in a flat-keyed file such as
// memory.stat or cpu.stat ("key value" lines); false when the key is
// absent or its value is not a count.
func StatValue(stat []byte, key string) (uint64, bool) {
	for line := range bytes.Lines(stat) {
		k, v, ok := bytes.Cut(bytes.TrimSuffix(line, []byte{'\n'}), []byte{' '})
		if ok && string(k) == key {
			n, err := ParseCount(v)
			return n, err == nil
		}
	}
	return 0, false
}

// Pressure is the cumulative stall time of one resource in µs, from a
// pressure file (cpu.pressure, memory.pressure, io.pressure;
// Documentation/accounting/psi.rst).
type Pressure struct {
	Some    uint64 // at least one runnable task stalled
	Full    uint64 // all non-idle tasks stalled at once
	HasFull bool   // cpu.pressure has no "full" line before Linux 5.13
}

// ParsePressure reads a pressure file: "some" and "full" lines of
// "avg10=.. avg60=.. avg300=.. total=<µs>". ok is false without a "some"
// total, or with a total that is not a count.
func ParsePressure(b []byte) (p Pressure, ok bool) {
	for line := range bytes.Lines(b) {
		kind, fields, _ := bytes.Cut(line, []byte{' '})
		if string(kind) != "some" && string(kind) != "full" {
			continue
		}
		for _, f := range bytes.Fields(fields) {
			v, found := bytes.CutPrefix(f, []byte("total="))
			if !found {
				continue
			}
			n, err := ParseCount(v)
			if err != nil {
				return Pressure{}, false
			}
			if string(kind) == "some" {
				p.Some, ok = n, true
			} else {
				p.Full, p.HasFull = n, true
			}
		}
	}
	return p, ok
}

// ReadInto reads a small cgroup file into buf without the os.File
// machinery: refreshers read thousands of them a second.
func ReadInto(path string, buf []byte) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return buf[:n], nil
}

// Known lists every cgroup under a root when it can (Resolver.Live).
type Known interface {
	Live(root string, fn func(id uint64, path string)) bool
}

// Retrack lists the cgroups under the cgroup2 root for a refresher that
// keeps files open per cgroup, from known when it knows them all and else
// by walking the tree (reading every cgroup directory costs ~50 us, ~0.5 s
// for 10,000 cgroups): track is called for every cgroup and says whether
// it is tracked; tracked ids the listing did not keep are closed and
// deleted. After a partial walk (an error), nothing is deleted: the
// cgroups it did not reach may still exist.
func Retrack[T any](root string, known Known, tracked map[uint64]T, track func(id uint64, path string) bool, closeFn func(T)) {
	seen := make(map[uint64]bool, len(tracked))
	visit := func(id uint64, path string) {
		if track(id, path) {
			seen[id] = true
		}
	}
	if known == nil || !known.Live(root, visit) {
		if err := Walk(root, visit); err != nil {
			return
		}
	}
	for id, c := range tracked {
		if !seen[id] {
			closeFn(c)
			delete(tracked, id)
		}
	}
}

// Untrack closes and forgets every tracked cgroup: a refresher that stops.
func Untrack[T any](tracked map[uint64]T, closeFn func(T)) {
	for id, c := range tracked {
		closeFn(c)
		delete(tracked, id)
	}
}

// Table holds the rows a refresher built last, which scrapes read while the
// next refresh builds its own: a scrape never touches cgroupfs.
type Table[T any] struct {
	mu   sync.RWMutex
	rows []T
}

// Set replaces the rows.
func (t *Table[T]) Set(rows []T) {
	t.mu.Lock()
	t.rows = rows
	t.mu.Unlock()
}

// Rows returns the rows of the last Set; callers must not modify them.
func (t *Table[T]) Rows() []T {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.rows
}
