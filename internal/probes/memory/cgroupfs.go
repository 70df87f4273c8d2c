package memory

import (
	"bytes"

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
	if cgroup.HasController(v2Root, "memory") {
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

// limitOfPages is a limit of the walk, a page counter's max in pages
// (PAGE_COUNTER_MAX without a limit), as parseLimit reads the file.
func limitOfPages(pages, pageSize uint64) (limit uint64, limited bool) {
	if pages >= unlimitedFrom/pageSize {
		return 0, false
	}
	return pages * pageSize, true
}

// parseLimit reads memory.max ("max" or bytes) or memory.limit_in_bytes;
// limited is false when there is no limit.
func parseLimit(b []byte) (limit uint64, limited bool, err error) {
	if string(bytes.TrimSpace(b)) == "max" {
		return 0, false, nil
	}
	v, err := cgroup.ParseCount(b)
	if err != nil {
		return 0, false, err
	}
	return v, v < unlimitedFrom, nil
}
