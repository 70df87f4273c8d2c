package neuron

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// maxValue bounds what a sysfs value file read may hold.
const maxValue = 4096

// parseCounter reads a Neuron sysfs counter file (total, present, peak):
// one unsigned decimal number, then a newline.
func parseCounter(b []byte) (uint64, error) {
	s := strings.TrimSpace(string(b))
	if s == "" || len(s) > 20 {
		return 0, fmt.Errorf("counter %q: not a 64-bit unsigned number", truncate(s))
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("counter %q: not a 64-bit unsigned number", truncate(s))
	}
	return v, nil
}

// driverVersion is the Neuron driver's version (/sys/module/neuron/version,
// e.g. 2.26.5.0): major, minor.
type driverVersion struct{ major, minor int }

func (v driverVersion) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

// atLeast says whether v is major.minor or later.
func (v driverVersion) atLeast(major, minor int) bool {
	return v.major > major || v.major == major && v.minor >= minor
}

// parseVersion reads the driver's version file.
func parseVersion(b []byte) (driverVersion, error) {
	s := strings.TrimSpace(string(b))
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(s) > 64 {
		return driverVersion{}, fmt.Errorf("neuron driver version %q: want major.minor[...]", truncate(s))
	}
	var v [2]int
	for i := range v {
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 || n > 1<<16 {
			return driverVersion{}, fmt.Errorf("neuron driver version %q: want major.minor[...]", truncate(s))
		}
		v[i] = n
	}
	return driverVersion{v[0], v[1]}, nil
}

// parseIndex reads the index of a directory named prefix<N> (neuron3,
// neuron_core1).
func parseIndex(name, prefix string) (int, bool) {
	digits, ok := strings.CutPrefix(name, prefix)
	if !ok || digits == "" || len(digits) > 6 {
		return 0, false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil
}

// trailingIndex reads the decimal number that ends a device plugin's ID
// ("3", "neuron3", "neuron_device_3").
func trailingIndex(id string) (int, bool) {
	i := len(id)
	for i > 0 && id[i-1] >= '0' && id[i-1] <= '9' {
		i--
	}
	if i == len(id) || len(id)-i > 6 {
		return 0, false
	}
	n, err := strconv.Atoi(id[i:])
	return n, err == nil
}

// errNotText is a label file that is not printable text.
var errNotText = errors.New("not printable text")

// parseLabel reads a sysfs file used as a label (serial_number,
// device_name): printable, at most 64 characters.
func parseLabel(b []byte) (string, error) {
	s := strings.TrimSpace(string(b))
	if len(s) > 64 {
		return "", errNotText
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
			return "", errNotText
		}
	}
	return s, nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
