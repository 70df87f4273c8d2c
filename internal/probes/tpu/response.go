package tpu

import (
	"math"
	"strconv"
	"strings"

	tpupb "github.com/orb8/orb8/api/tpu_info/proto"
)

// Bounds on what a workload's metrics service may make the agent hold: the
// service is the workload's, and a hostile workload controls its answers.
const (
	maxMessage     = 1 << 20 // bytes of one response
	maxPoints      = 256     // points of one metric used
	maxDevice      = 1 << 16 // device ids are below
	maxMetrics     = 32      // listed metrics without a family of their own polled
	maxMetricName  = 128     // bytes of a metric name
	maxDeviceDigit = 5       // digits of a device id given as a string
)

// reading is one device's value of one metric.
type reading struct {
	device string
	value  float64
}

// readings are the per-device gauge values of a metric; skipped counts the
// gauge points dropped: no device id, not a number, past maxPoints. Other
// measures (distributions, counters) are not gauges and are passed over.
func readings(m *tpupb.TPUMetric) (out []reading, skipped int) {
	for i, p := range m.GetMetrics() {
		if i >= maxPoints {
			return out, skipped + len(m.GetMetrics()) - i
		}
		if p.GetGauge() == nil {
			continue
		}
		device, ok := deviceID(p.GetAttribute(), true)
		v, isNum := gaugeValue(p.GetGauge())
		if !ok || !isNum {
			skipped++
			continue
		}
		out = append(out, reading{device: device, value: v})
	}
	return out, skipped
}

// deviceID is the device a point is about: its attribute's value (libtpu
// names it device-id), or, for a list of attributes, the device_ordinal
// (or device-id) among them; as an integer or a string of digits.
func deviceID(a *tpupb.Attribute, top bool) (string, bool) {
	v := a.GetValue()
	switch x := v.GetAttr().(type) {
	case *tpupb.AttrValue_IntAttr:
		if x.IntAttr >= 0 && x.IntAttr < maxDevice {
			return strconv.FormatInt(x.IntAttr, 10), true
		}
	case *tpupb.AttrValue_StringAttr:
		s := x.StringAttr
		if len(s) > 0 && len(s) <= maxDeviceDigit && strings.Trim(s, "0123456789") == "" {
			if n, _ := strconv.Atoi(s); n < maxDevice {
				return strconv.Itoa(n), true
			}
		}
	case *tpupb.AttrValue_KvlistAttr:
		if !top {
			return "", false // one level: no deeper nesting is libtpu's
		}
		for _, kv := range x.KvlistAttr.GetAttributes() {
			switch kv.GetKey() {
			case "device_ordinal", "device-id", "device_id":
				return deviceID(kv, false)
			}
		}
	}
	return "", false
}

// gaugeValue is a gauge's value as a finite number; a string, a missing
// value or another kind of measure is none.
func gaugeValue(g *tpupb.Gauge) (float64, bool) {
	switch x := g.GetValue().(type) {
	case *tpupb.Gauge_AsDouble:
		return x.AsDouble, !math.IsNaN(x.AsDouble) && !math.IsInf(x.AsDouble, 0)
	case *tpupb.Gauge_AsInt:
		return float64(x.AsInt), true
	case *tpupb.Gauge_AsBool:
		if x.AsBool {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// pollable reports whether a listed metric without a family of its own is
// worth a call: a plausible name (it becomes a label value) and not a
// distribution, which carries no gauge.
func pollable(name string) bool {
	if name == "" || len(name) > maxMetricName || strings.Contains(name, ".distribution") {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-', c == '/':
		default:
			return false
		}
	}
	return true
}
