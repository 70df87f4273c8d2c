package probe

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/orb8/orb8/internal/cgroup"
)

// WorkloadOfPID names the workload of a process, by its pid in the procfs
// mounted at proc, through its cgroup v2 path ("0::/kubepods/..." in
// /proc/<pid>/cgroup) and that directory's inode, which is the cgroup id
// the resolver knows: for probes that learn of processes outside the
// kernel (a vendor library, a process's own endpoint). False when that
// fails or the agent's filters hide the workload. The workload's ID is
// cleared: such series are per workload, like the BPF probes' folded ones.
func (e Env) WorkloadOfPID(proc string, pid uint32) (cgroup.Workload, bool) {
	path, ok := cgroupPathOf(proc, pid)
	if !ok {
		return cgroup.Workload{}, false
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(e.CgroupRoot, path), &st); err != nil {
		return cgroup.Workload{}, false
	}
	w, ok := e.Resolver.Visible(st.Ino)
	w.ID = 0
	return w, ok
}

func cgroupPathOf(proc string, pid uint32) (string, bool) {
	f, err := os.Open(filepath.Join(proc, strconv.FormatUint(uint64(pid), 10), "cgroup"))
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
