package probe

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// PidCgroup returns the cgroup id of a host pid: the inode of its cgroup v2
// directory ("0::/kubepods/..." in <proc>/<pid>/cgroup, under cgroupRoot),
// which is the id the resolver knows; false when the process is gone or
// its cgroup cannot be read.
func PidCgroup(proc, cgroupRoot string, pid uint32) (uint64, bool) {
	path, ok := cgroupPath(proc, pid)
	if !ok {
		return 0, false
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(cgroupRoot, path), &st); err != nil {
		return 0, false
	}
	return st.Ino, true
}

func cgroupPath(proc string, pid uint32) (string, bool) {
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
