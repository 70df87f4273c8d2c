package cpu

import (
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/cgroup"
)

// counter says where one CPU counter of a cgroup is read: the file at the
// cgroup's relative path under root, the key in it ("" when the whole file
// is the number), and the unit of that number in seconds.
type counter struct {
	root string
	file string
	key  string
	unit float64
}

// path is the counter's file of the cgroup at the relative path rel.
func (c counter) path(rel string) string { return filepath.Join(c.root, rel, c.file) }

// value reads the counter from the file's content; false when absent.
func (c counter) value(b []byte) (float64, bool) {
	if c.key == "" {
		n, err := cgroup.ParseCount(b)
		return float64(n) * c.unit, err == nil
	}
	n, ok := cgroup.StatValue(b, c.key)
	return float64(n) * c.unit, ok
}

// sources are where the probe reads each cgroup's CPU time and throttling,
// and whether its cgroup2 directory has CPU pressure (cpu.pressure).
type sources struct {
	usage       counter
	throttle    counter
	hasThrottle bool
	pressure    bool
}

// pressureFile is the cgroup2 file of CPU pressure stall times. Without
// PSI (CONFIG_PSI, or psi=1 where it is off by default) there is none; a
// cgroup can also turn its own off (cgroup.pressure 0), which hides it.
const pressureFile = "cpu.pressure"

// findSources picks the files the kernel keeps the counters in:
//   - usage: cgroup2's cpu.stat usage_usec, which every cgroup2 cgroup has
//     whether or not the cpu controller is enabled (the kernel's base stats,
//     the sum of its tasks' runtime); else cpuacct.usage (ns) of the v1
//     cpuacct cgroup of the same relative path;
//   - throttling: cpu.stat throttled_usec where cgroup2 has the cpu
//     controller, else throttled_time (ns) in cpu.stat of the v1 cpu cgroup
//     of the same path (kubelet, systemd and container runtimes create the
//     same path in every hierarchy). Without either, no throttling series;
//   - pressure: cpu.pressure in the cgroup2 tree, where the root has one
//     that reads (PSI on), even without the cpu controller.
func findSources(v2Root string) (sources, error) {
	var s sources
	buf := make([]byte, 4096)
	if b, err := cgroup.ReadInto(filepath.Join(v2Root, pressureFile), buf); err == nil {
		_, s.pressure = cgroup.ParsePressure(b)
	}
	if b, err := cgroup.ReadInto(filepath.Join(v2Root, "cpu.stat"), buf); err == nil {
		if _, ok := cgroup.StatValue(b, "usage_usec"); ok {
			s.usage = counter{root: v2Root, file: "cpu.stat", key: "usage_usec", unit: 1e-6}
		}
	}
	if s.usage.root == "" {
		root, err := cgroup.FindV1Mount("cpuacct")
		if err != nil {
			return s, err
		}
		s.usage = counter{root: root, file: "cpuacct.usage", unit: 1e-9}
	}
	if cgroup.HasController(v2Root, "cpu") {
		s.throttle, s.hasThrottle = counter{root: v2Root, file: "cpu.stat", key: "throttled_usec", unit: 1e-6}, true
	} else if root, err := cgroup.FindV1Mount("cpu"); err == nil {
		s.throttle, s.hasThrottle = counter{root: root, file: "cpu.stat", key: "throttled_time", unit: 1e-9}, true
	}
	return s, nil
}

// walkable reports whether the walk (cpu.bpf.c) can serve these sources:
// CPU time is cgroup2's cpu.stat under root, and root is a cgroup2 mount,
// whose cgroup ids are the ones the walk reports.
func (s sources) walkable(root string) bool {
	if s.usage.file != "cpu.stat" || s.usage.root != root {
		return false
	}
	var st unix.Statfs_t
	return unix.Statfs(root, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// throttleWithUsage reports whether throttling is in the file usage is
// read from (cgroup2's cpu.stat with the cpu controller), which the walk
// reads too; else it is a v1 cpu cgroup's file, read on its own.
func (s sources) throttleWithUsage() bool {
	return s.hasThrottle && s.throttle.root == s.usage.root && s.throttle.file == s.usage.file
}
