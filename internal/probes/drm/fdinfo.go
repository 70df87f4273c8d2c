package drm

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Usage is one DRM client's usage stats as /proc/<pid>/fdinfo/<fd> shows
// them (Documentation/gpu/drm-usage-stats.rst). Keys a driver does not
// print are absent from the maps.
type Usage struct {
	Driver string // drm-driver: the only mandatory key
	PDev   string // drm-pdev: PCI slot, absent for platform devices
	// ClientID is drm-client-id, unique per device or globally; HasID is
	// false for a driver that does not print it.
	ClientID uint64
	HasID    bool
	Engines  map[string]*Engine
	// Memory is bytes per region and kind (total, shared, resident,
	// purgeable, active). The deprecated drm-memory-<region> is resident,
	// unless drm-resident-<region> says otherwise (amdgpu prints both).
	Memory map[MemoryKey]uint64
}

// Engine is what a client's fdinfo says about one engine class.
type Engine struct {
	BusyNs      uint64 // drm-engine-<name>, in ns
	Cycles      uint64 // drm-cycles-<name>: busy cycles
	TotalCycles uint64 // drm-total-cycles-<name>: the GPU clock, the cycles' denominator
	Capacity    uint64 // drm-engine-capacity-<name>: engines of the class; 1 when absent
	HasBusy     bool
	HasCycles   bool
	HasTotal    bool
}

// MemoryKey names one memory figure of a client.
type MemoryKey struct{ Region, Kind string }

// memoryKinds are the drm-<kind>-<region> keys; the deprecated
// drm-memory-<region> means resident.
var memoryKinds = []string{"total", "shared", "resident", "purgeable", "active"}

// ParseFdinfo reads the DRM usage stats of one fdinfo file. Lines that are
// not drm- keys (pos, flags, pasid, amd-*, panthor-*) are skipped, as are
// keys it does not use (drm-maxfreq-, drm-curfreq-, drm-client-name). A
// malformed drm- line is skipped and reported in the error, with what the
// other lines said still returned; ok is false when the file is no DRM
// client (no drm-driver).
func ParseFdinfo(b []byte) (u Usage, ok bool, err error) {
	var errs []error
	legacy := map[string]uint64{}
	for line := range bytes.Lines(b) {
		key, value, found := bytes.Cut(bytes.TrimRight(line, "\n"), []byte(":"))
		if !found || !bytes.HasPrefix(key, []byte("drm-")) {
			continue
		}
		if e := u.set(string(key), string(bytes.TrimSpace(value)), legacy); e != nil {
			errs = append(errs, e)
		}
	}
	for region, v := range legacy {
		k := MemoryKey{region, "resident"}
		if _, explicit := u.Memory[k]; !explicit {
			u.memory()[k] = v
		}
	}
	if u.Driver == "" {
		return Usage{}, false, errors.Join(errs...)
	}
	return u, true, errors.Join(errs...)
}

// set applies one drm- key. Longer prefixes first: drm-engine-capacity-x
// is no engine "capacity-x", drm-total-cycles-x no memory region "cycles-x".
func (u *Usage) set(key, value string, legacy map[string]uint64) error {
	var err error
	switch {
	case key == "drm-driver":
		if err = checkString(value); err == nil {
			u.Driver = value
		}
	case key == "drm-pdev":
		if err = checkString(value); err == nil {
			u.PDev = value
		}
	case key == "drm-client-id":
		if u.ClientID, err = strconv.ParseUint(value, 10, 64); err == nil {
			u.HasID = true
		}
	case named(key, "drm-engine-capacity-"):
		var n uint64
		if n, err = strconv.ParseUint(value, 10, 64); err == nil && n == 0 {
			err = errors.New("zero capacity")
		}
		if err == nil {
			u.engine(key[len("drm-engine-capacity-"):]).Capacity = n
		}
	case named(key, "drm-engine-"):
		var ns uint64
		if ns, err = parseUnit(value, "ns"); err == nil {
			e := u.engine(key[len("drm-engine-"):])
			e.BusyNs, e.HasBusy = ns, true
		}
	case named(key, "drm-total-cycles-"):
		var c uint64
		if c, err = strconv.ParseUint(value, 10, 64); err == nil {
			e := u.engine(key[len("drm-total-cycles-"):])
			e.TotalCycles, e.HasTotal = c, true
		}
	case named(key, "drm-cycles-"):
		var c uint64
		if c, err = strconv.ParseUint(value, 10, 64); err == nil {
			e := u.engine(key[len("drm-cycles-"):])
			e.Cycles, e.HasCycles = c, true
		}
	case named(key, "drm-memory-"):
		var n uint64
		if n, err = parseBytes(value); err == nil {
			legacy[key[len("drm-memory-"):]] = n
		}
	default:
		for _, kind := range memoryKinds {
			if prefix := "drm-" + kind + "-"; named(key, prefix) {
				var n uint64
				if n, err = parseBytes(value); err == nil {
					u.memory()[MemoryKey{key[len(prefix):], kind}] = n
				}
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("fdinfo %s: %w", key, err)
	}
	return nil
}

// named reports whether key is prefix followed by a name.
func named(key, prefix string) bool { return len(key) > len(prefix) && strings.HasPrefix(key, prefix) }

func (u *Usage) engine(name string) *Engine {
	if u.Engines == nil {
		u.Engines = map[string]*Engine{}
	}
	e := u.Engines[name]
	if e == nil {
		e = &Engine{Capacity: 1}
		u.Engines[name] = e
	}
	return e
}

func (u *Usage) memory() map[MemoryKey]uint64 {
	if u.Memory == nil {
		u.Memory = map[MemoryKey]uint64{}
	}
	return u.Memory
}

// checkString enforces the spec's <str>: no whitespace, not empty.
func checkString(s string) error {
	if s == "" || strings.ContainsAny(s, " \t\r\v\f") {
		return fmt.Errorf("%q is no string value", s)
	}
	return nil
}

// parseUnit parses "<uint> unit"; the unit is required.
func parseUnit(value, unit string) (uint64, error) {
	n, u, _ := strings.Cut(value, " ")
	if strings.TrimSpace(u) != unit {
		return 0, fmt.Errorf("%q: want <uint> %s", value, unit)
	}
	return strconv.ParseUint(n, 10, 64)
}

// byteUnits are the optional units of memory values; bytes without one.
var byteUnits = map[string]uint64{"": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}

// parseBytes parses "<uint> [KiB|MiB|GiB]" into bytes.
func parseBytes(value string) (uint64, error) {
	n, u, _ := strings.Cut(value, " ")
	mult, ok := byteUnits[strings.TrimSpace(u)]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit", value)
	}
	v, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		return 0, err
	}
	if v > ^uint64(0)/mult {
		return 0, fmt.Errorf("%q overflows 64 bits", value)
	}
	return v * mult, nil
}
