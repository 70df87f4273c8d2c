package cgroup

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// FindMount returns where the cgroup2 hierarchy is mounted: /sys/fs/cgroup on
// pure v2 hosts, /sys/fs/cgroup/unified on hybrid ones, else the first
// cgroup2 mount listed.
func FindMount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("find cgroup2 mount: %w", err)
	}
	defer f.Close()
	return findMount(f)
}

func findMount(r io.Reader) (string, error) {
	var found []string
	err := eachMount(r, func(point, fstype string, _ []string) {
		if fstype == "cgroup2" {
			found = append(found, point)
		}
	})
	if err != nil {
		return "", err
	}
	for _, want := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		for _, m := range found {
			if m == want {
				return m, nil
			}
		}
	}
	if len(found) > 0 {
		return found[0], nil
	}
	return "", fmt.Errorf("no cgroup2 filesystem is mounted: mount one with 'mount -t cgroup2 none /sys/fs/cgroup/unified'")
}

// FindV1Mount returns where the cgroup v1 hierarchy with controller (e.g.
// "memory") is mounted, for figures that hybrid hosts keep only there.
func FindV1Mount(controller string) (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("find the %s cgroup: %w", controller, err)
	}
	defer f.Close()
	return findV1Mount(f, controller)
}

func findV1Mount(r io.Reader, controller string) (string, error) {
	found := ""
	err := eachMount(r, func(point, fstype string, superOpts []string) {
		if found == "" && fstype == "cgroup" && slices.Contains(superOpts, controller) {
			found = point
		}
	})
	if err != nil {
		return "", err
	}
	if found == "" {
		return "", fmt.Errorf("no %s cgroup controller: neither the cgroup2 tree nor a cgroup v1 mount has it", controller)
	}
	return found, nil
}

// eachMount calls fn with the mount point (unescaped), filesystem type and
// super options of every well-formed line of a mountinfo file.
func eachMount(r io.Reader, fn func(point, fstype string, superOpts []string)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 5 || sep+3 >= len(fields) {
			continue
		}
		fn(unescapeMountPath(fields[4]), fields[sep+1], strings.Split(fields[sep+3], ","))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	return nil
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			v := 0
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + int(c-'0')
			}
			if ok {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Hierarchy says which cgroup hierarchy names workloads on this host.
type Hierarchy struct {
	// V1: workloads are told apart by their cgroup v1 memory controller's
	// cgroup, as on legacy hosts where every process's unified cgroup is the
	// root. Otherwise by their unified (cgroup2) cgroup.
	V1 bool
	// Root is the mount the resolver reads workloads from.
	Root string
	// Unified is the cgroup2 mount (cgroup_skb and sockops programs attach
	// there), "" when the host has none.
	Unified string
}

// Hierarchy modes, as --cgroup-hierarchy takes them.
const (
	HierarchyAuto    = "auto"
	HierarchyUnified = "unified"
	HierarchyV1      = "v1"
)

// Name is how status and metrics say which hierarchy is used.
func (h Hierarchy) Name() string {
	if h.V1 {
		return "v1-memory"
	}
	return HierarchyUnified
}

// FindHierarchy picks the hierarchy for mode: "unified" needs a cgroup2 mount,
// "v1" the memory controller's v1 mount, and "auto" takes the unified one
// when the host mounts one, else v1 (a legacy host).
func FindHierarchy(mode string) (Hierarchy, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return Hierarchy{}, fmt.Errorf("find the cgroup hierarchy: %w", err)
	}
	return findHierarchy(string(data), mode)
}

func findHierarchy(mountinfo, mode string) (Hierarchy, error) {
	unified, uerr := findMount(strings.NewReader(mountinfo))
	switch mode {
	case HierarchyUnified:
		return Hierarchy{Root: unified, Unified: unified}, uerr
	case HierarchyAuto, "":
		if uerr == nil {
			return Hierarchy{Root: unified, Unified: unified}, nil
		}
	case HierarchyV1:
	default:
		return Hierarchy{}, fmt.Errorf("cgroup hierarchy %q: want auto, unified or v1", mode)
	}
	memory, err := findV1Mount(strings.NewReader(mountinfo), "memory")
	if err != nil {
		return Hierarchy{}, fmt.Errorf("cgroup v1 mode: %w", err)
	}
	return Hierarchy{V1: true, Root: memory, Unified: unified}, nil
}
