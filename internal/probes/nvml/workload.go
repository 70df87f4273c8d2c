//go:build cgo

package nvml

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/orb8/orb8/internal/cgroup"
)

// workloadOf names the workload of a host pid through its cgroup v2 path
// ("0::/kubepods/..." in /proc/<pid>/cgroup) and that directory's inode,
// which is the cgroup id the resolver knows; false when that fails or the
// agent's filters hide the workload.
func (p *Probe) workloadOf(pid uint32) (cgroup.Workload, bool) {
	path, ok := p.cgroupPath(pid)
	if !ok {
		return cgroup.Workload{}, false
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(p.env.CgroupRoot, path), &st); err != nil {
		return cgroup.Workload{}, false
	}
	w, ok := p.env.Resolver.Visible(st.Ino)
	w.ID = 0 // series are per workload, like the BPF probes' folded ones
	return w, ok
}

func (p *Probe) cgroupPath(pid uint32) (string, bool) {
	f, err := os.Open(filepath.Join(p.proc, strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if path, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return path, true
		}
	}
	return "", false
}
