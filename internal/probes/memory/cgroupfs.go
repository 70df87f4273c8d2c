package memory

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/cgroup"
)

// unlimitedFrom is where a limit stops meaning anything: cgroup v1 writes
// "no limit" as PAGE_COUNTER_MAX pages (0x7FFFFFFFFFFFF000 bytes on x86-64).
const unlimitedFrom = 1 << 62

// hierarchy says where the memory controller keeps a cgroup's figures: the
// cgroup2 tree when it has the controller, else the cgroup v1 memory tree,
// where the cgroup of the same relative path is read (kubelet, systemd and
// container runtimes create the same path in every hierarchy).
type hierarchy struct {
	root  string // mount point of the hierarchy with the memory controller
	usage string // usage file, hierarchical
	limit string // limit file of the cgroup itself
	// inactiveFile is memory.stat's key for inactive page cache of the cgroup
	// and its descendants: reclaimable before an OOM kill.
	inactiveFile string
}

var (
	v2Files = hierarchy{usage: "memory.current", limit: "memory.max", inactiveFile: "inactive_file"}
	v1Files = hierarchy{usage: "memory.usage_in_bytes", limit: "memory.limit_in_bytes", inactiveFile: "total_inactive_file"}
)

// findHierarchy picks the cgroup2 tree at v2Root when it has the memory
// controller, else the cgroup v1 memory mount.
func findHierarchy(v2Root string) (hierarchy, error) {
	controllers, err := os.ReadFile(filepath.Join(v2Root, "cgroup.controllers"))
	if err == nil && hasWord(controllers, "memory") {
		h := v2Files
		h.root = v2Root
		return h, nil
	}
	root, err := cgroup.FindV1Mount("memory")
	if err != nil {
		return hierarchy{}, err
	}
	h := v1Files
	h.root = root
	return h, nil
}

func hasWord(b []byte, word string) bool {
	for _, f := range strings.Fields(string(b)) {
		if f == word {
			return true
		}
	}
	return false
}

// parseBytes reads a counter file: a decimal number of bytes.
func parseBytes(b []byte) (uint64, error) {
	s := string(bytes.TrimSpace(b))
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a byte count: %q", s)
	}
	return v, nil
}

// parseLimit reads memory.max ("max" or bytes) or memory.limit_in_bytes;
// limited is false when there is no limit.
func parseLimit(b []byte) (limit uint64, limited bool, err error) {
	if string(bytes.TrimSpace(b)) == "max" {
		return 0, false, nil
	}
	v, err := parseBytes(b)
	if err != nil {
		return 0, false, err
	}
	return v, v < unlimitedFrom, nil
}

// statValue returns the value of key in a memory.stat ("key value" lines).
func statValue(stat []byte, key string) (uint64, bool) {
	for len(stat) > 0 {
		line := stat
		if i := bytes.IndexByte(stat, '\n'); i >= 0 {
			line, stat = stat[:i], stat[i+1:]
		} else {
			stat = nil
		}
		k, v, ok := bytes.Cut(line, []byte{' '})
		if ok && string(k) == key {
			n, err := parseBytes(v)
			return n, err == nil
		}
	}
	return 0, false
}

// readInto reads a small cgroup file into buf without the os.File machinery:
// the refresher reads thousands of them a second.
func readInto(path string, buf []byte) ([]byte, error) {
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
