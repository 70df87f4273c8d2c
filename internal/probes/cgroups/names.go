package cgroups

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/probe"
)

// idNamer names a cgroup from its id with the cgroup_names iterator attached
// to that one cgroup, walking up to the root: a handful of syscalls per
// unseen id, no rescan of the tree, and no open_by_handle_at (which needs
// CAP_DAC_READ_SEARCH, and with it could open any file of the host).
type idNamer struct {
	prog *ebpf.Program

	mu  sync.Mutex
	buf bytes.Buffer // the iterator's output, reused
}

// Path returns the path, relative to the cgroup2 root, of the live cgroup
// with this id: "/" for the root. A removed cgroup's id is an error.
func (n *idNamer) Path(id uint64) (string, error) {
	f, err := probe.OpenCgroupIter(n.prog, unix.BPF_CGROUP_ITER_ANCESTORS_UP, id)
	if err != nil {
		return "", err
	}
	defer f.Close()
	n.mu.Lock()
	defer n.mu.Unlock()
	chain, err := probe.ReadRecords[cgroupsCgroupName](f, &n.buf)
	if err != nil {
		return "", err
	}
	return joinChain(id, chain)
}

// errBadChain says the iterator's output is not one cgroup's ancestry.
var errBadChain = errors.New("cgroup iterator returned a broken ancestor chain")

// joinChain makes a path of the names of a cgroup and its ancestors, that
// cgroup first and the root (level 0, whose name is not part of paths) last.
func joinChain(id uint64, chain []cgroupsCgroupName) (string, error) {
	if len(chain) == 0 || chain[0].Id != id || int(chain[0].Level) != len(chain)-1 {
		return "", fmt.Errorf("%w for cgroup %d (%d records)", errBadChain, id, len(chain))
	}
	parts := make([]string, len(chain)-1)
	for i, c := range chain {
		level := len(chain) - 1 - i
		if int(c.Level) != level {
			return "", fmt.Errorf("%w for cgroup %d: level %d at %d", errBadChain, id, c.Level, level)
		}
		if level > 0 {
			parts[level-1] = probe.CString(c.Name[:])
		}
	}
	return "/" + strings.Join(parts, "/"), nil
}
