// Package humanize prints figures and messages for people: 1.2M, 3.4 KiB,
// 850µs, "-" for what is unknown, errors on one line.
package humanize

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// Bytes is a byte count in binary units, e.g. "1.5 MiB".
func Bytes(v float64) string {
	const unit = 1024
	if math.Abs(v) < unit {
		return fmt.Sprintf("%.0f B", v)
	}
	exp, div := 0, float64(unit)
	for math.Abs(v)/div >= unit && exp < 5 {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", v/div, "KMGTPE"[exp])
}

// Count is a number with a metric suffix, e.g. "12.3k".
func Count(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return fmt.Sprintf("%.1fG", v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case a == math.Trunc(a):
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// Seconds is a duration given in seconds, rounded to 3 significant digits.
func Seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d >= time.Microsecond:
		return d.Round(10 * time.Nanosecond).String()
	}
	return d.String()
}

// Percent is a 0..1 ratio as a percentage.
func Percent(r float64) string { return fmt.Sprintf("%.0f%%", r*100) }

// Optional is format(*v), or "-" when v is nil (no probe provides the figure).
func Optional(v *float64, format func(float64) string) string {
	if v == nil {
		return "-"
	}
	return format(*v)
}

// Dash shows an empty cell as "-".
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// HostPort is addr:port ([addr]:port for IPv6), or "-" without an address.
func HostPort(addr string, port uint32) string {
	if addr == "" {
		return "-"
	}
	return net.JoinHostPort(addr, strconv.FormatUint(uint64(port), 10))
}

// OneLine folds a (possibly multi-line) message, such as a joined or wrapped
// error, onto one line: errors are shown as one line.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
