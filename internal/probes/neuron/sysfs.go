package neuron

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Where the Neuron driver puts its sysfs tree, and its version.
const (
	deviceRoot  = "devices/virtual/neuron_device" // under /sys: neuron0, neuron1...
	versionFile = "module/neuron/version"         // under /sys
)

// movedAt is the driver version that reorganized the sysfs tree (Neuron
// Driver 2.31): before it, the documented paths below hold; from it, the
// counters are found by their names wherever they sit in a device's tree.
var movedAt = driverVersion{2, 31}

// The documented layout before 2.31 (Neuron sysfs user guide; the driver's
// neuron_sysfs_metrics.c): per NeuronCore, device memory by category and
// the time the core was in use, each a counter directory.
const (
	deviceMemDir = "device_mem"     // stats/memory_usage/device_mem/<category>/{total,present,peak}
	timeInUseDir = "nc_time_in_use" // stats/other_info/nc_time_in_use/{total,present}
	legacyMem    = "stats/memory_usage/" + deviceMemDir
	legacyTime   = "stats/other_info/" + timeInUseDir
)

// Bounds of a search of a device's tree by name.
const (
	maxDepth   = 8
	maxEntries = 50000
)

// device is one Neuron device's counter files, found at Start.
type device struct {
	index         int
	serial, model string
	cores         []core
}

// core is one NeuronCore's counter files.
type core struct {
	index    int
	memFiles []string // device_mem/<category>/total: bytes in use
	timeFile string   // nc_time_in_use/total: microseconds in use; "" if absent
}

// discover finds the Neuron devices under sys and their counter files, by
// the documented paths before driver 2.31 and by name from it (or when the
// version is unknown).
func discover(sys string, v driverVersion, versionKnown bool) ([]device, error) {
	root := filepath.Join(sys, deviceRoot)
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("no Neuron device on this host: %w", err)
	}
	byName := !versionKnown || v.atLeast(movedAt.major, movedAt.minor)
	var out []device
	for _, e := range entries {
		n, ok := parseIndex(e.Name(), "neuron")
		if !ok {
			continue
		}
		dir := filepath.Join(root, e.Name())
		d := device{index: n}
		if byName {
			err = d.findByName(dir)
		} else {
			err = d.findDocumented(dir)
		}
		if err != nil {
			return nil, fmt.Errorf("neuron device %d: %w", n, err)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no Neuron device on this host (nothing under %s)", root)
	}
	slices.SortFunc(out, func(a, b device) int { return a.index - b.index })
	for _, d := range out {
		for _, c := range d.cores {
			if len(c.memFiles) > 0 || c.timeFile != "" {
				return out, nil
			}
		}
	}
	return nil, fmt.Errorf("no NeuronCore counters under %s (driver %s: a sysfs layout orb8 does not know)", root, v)
}

// findDocumented reads the pre-2.31 layout.
func (d *device) findDocumented(dir string) error {
	d.serial = readLabel(filepath.Join(dir, "info", "serial_number"))
	d.model = readLabel(filepath.Join(dir, "info", "architecture", "device_name"))
	cores, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range cores {
		n, ok := parseIndex(e.Name(), "neuron_core")
		if !ok || !e.IsDir() {
			continue
		}
		cdir := filepath.Join(dir, e.Name())
		c := core{index: n}
		c.memFiles, _ = filepath.Glob(filepath.Join(cdir, legacyMem, "*", "total"))
		if t := filepath.Join(cdir, legacyTime, "total"); exists(t) {
			c.timeFile = t
		}
		d.cores = append(d.cores, c)
	}
	slices.SortFunc(d.cores, func(a, b core) int { return a.index - b.index })
	return nil
}

// errTooLarge is a device tree past maxEntries.
var errTooLarge = errors.New("sysfs tree too large to search")

// findByName searches the device's tree (symbolic links not followed) for
// neuron_core<N> directories and, within each, the device_mem and
// nc_time_in_use counters; serial_number and device_name anywhere outside
// them.
func (d *device) findByName(dir string) error {
	cores := map[int]*core{}
	seen := 0
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable: skipped
		}
		if seen++; seen > maxEntries {
			return errTooLarge
		}
		rel, _ := filepath.Rel(dir, path)
		parts := strings.Split(rel, string(filepath.Separator))
		if e.IsDir() && len(parts) > maxDepth {
			return fs.SkipDir
		}
		coreIndex, inCore := -1, false
		for _, p := range parts {
			if n, ok := parseIndex(p, "neuron_core"); ok {
				coreIndex, inCore = n, true
			}
		}
		switch {
		case inCore && e.IsDir() && parseCore(e.Name()):
			if cores[coreIndex] == nil {
				cores[coreIndex] = &core{index: coreIndex}
			}
		case inCore && e.Name() == "total" && len(parts) >= 3 && parts[len(parts)-3] == deviceMemDir:
			c := cores[coreIndex]
			c.memFiles = append(c.memFiles, path)
		case inCore && e.Name() == "total" && len(parts) >= 2 && parts[len(parts)-2] == timeInUseDir:
			cores[coreIndex].timeFile = path
		case !inCore && !e.IsDir() && e.Name() == "serial_number" && d.serial == "":
			d.serial = readLabel(path)
		case !inCore && !e.IsDir() && e.Name() == "device_name" && d.model == "":
			d.model = readLabel(path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range cores {
		slices.Sort(c.memFiles)
		d.cores = append(d.cores, *c)
	}
	slices.SortFunc(d.cores, func(a, b core) int { return a.index - b.index })
	return nil
}

func parseCore(name string) bool { _, ok := parseIndex(name, "neuron_core"); return ok }

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// readFile reads at most maxValue bytes of a sysfs file.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxValue))
}

// readLabel is a label file's value, "" when absent or not text.
func readLabel(path string) string {
	b, err := readFile(path)
	if err != nil {
		return ""
	}
	s, err := parseLabel(b)
	if err != nil {
		return ""
	}
	return s
}

// readCounter reads a counter file.
func readCounter(path string) (uint64, error) {
	b, err := readFile(path)
	if err != nil {
		return 0, err
	}
	return parseCounter(b)
}

// readVersion reads the driver's version under sys.
func readVersion(sys string) (driverVersion, error) {
	b, err := readFile(filepath.Join(sys, versionFile))
	if err != nil {
		return driverVersion{}, err
	}
	return parseVersion(b)
}
