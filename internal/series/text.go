package series

import (
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"
)

// flushAt is the buffer size at which a family's text is passed on.
const flushAt = 32 << 10

// leValues are the `le` labels of Log2Hist's finite buckets, as the text
// encoder writes their upper bounds.
var leValues = func() (le [Log2Slots - 1]string) {
	for i := range le {
		le[i] = string(appendFloat(nil, Log2UpperBound(i)))
	}
	return le
}()

// WriteText writes the exposition in the Prometheus text format (format is
// the negotiated text/plain one, for the encoder of Rest): every metric in
// name order, byte for byte what promhttp writes for the same collection.
// Like promhttp under ContinueOnError it goes on after a family fails.
func (e *Exposition) WriteText(w io.Writer, format expfmt.Format) error {
	enc := expfmt.NewEncoder(w, format)
	var errs []error
	rest := e.Rest
	encodeRestBefore := func(name string) {
		for len(rest) > 0 && rest[0].GetName() < name {
			errs = append(errs, enc.Encode(rest[0]))
			rest = rest[1:]
		}
	}
	buf := make([]byte, 0, flushAt+4096)
	for _, cf := range e.workload {
		encodeRestBefore(cf.d.name)
		var err error
		buf, err = cf.writeText(w, buf, cf.d.lineFormat(e.label))
		errs = append(errs, err)
	}
	for _, mf := range rest {
		errs = append(errs, enc.Encode(mf))
	}
	return errors.Join(errs...)
}

// writeText writes the family as expfmt.MetricFamilyToText does, its
// labels as f says, through buf; it returns buf emptied.
func (cf *collectedFamily) writeText(w io.Writer, buf []byte, f *lineFormat) ([]byte, error) {
	d := cf.d
	buf = append(append(append(buf, "# HELP "...), d.name...), ' ')
	buf = appendEscaped(buf, d.help, false)
	buf = append(append(append(append(buf, "\n# TYPE "...), d.name...), ' '), typeName(cf.kind, cf.histogram)...)
	buf = append(buf, '\n')
	for i := range cf.points {
		if p := &cf.points[i]; p.hist == nil {
			buf = p.appendLine(buf, d.name, f, "", "", p.value)
		} else {
			buf = p.appendHistogram(buf, d.name, f)
		}
		if len(buf) >= flushAt {
			if _, err := w.Write(buf); err != nil {
				return buf[:0], err
			}
			buf = buf[:0]
		}
	}
	_, err := w.Write(buf)
	return buf[:0], err
}

// appendHistogram appends the bucket, sum and count lines of a histogram
// of the metric name.
func (p *point) appendHistogram(buf []byte, name string, f *lineFormat) []byte {
	var count uint64
	for i, v := range p.hist.Slots {
		count += v
		if i < len(leValues) {
			buf = p.appendLine(buf, name, f, "_bucket", leValues[i], float64(count))
		}
	}
	buf = p.appendLine(buf, name, f, "_bucket", "+Inf", float64(count))
	buf = p.appendLine(buf, name, f, "_sum", "", p.hist.Seconds())
	return p.appendLine(buf, name, f, "_count", "", float64(count))
}

// appendLine appends one sample line: the metric name and suffix, the
// labels as f orders them, an le label if given, the value.
func (p *point) appendLine(buf []byte, name string, f *lineFormat, suffix, le string, v float64) []byte {
	buf = append(append(buf, name...), suffix...)
	for i, at := range f.order {
		value := f.constValue
		if at != constIndex {
			value = p.labels[at]
		}
		buf = appendEscaped(append(buf, f.openers[i]...), value, true)
	}
	switch {
	case len(f.order) > 0 && le != "":
		buf = append(append(append(buf, `",le="`...), le...), `"} `...)
	case len(f.order) > 0:
		buf = append(buf, `"} `...)
	case le != "": // a series without labels, node-level
		buf = append(append(append(buf, `{le="`...), le...), `"} `...)
	default:
		buf = append(buf, ' ')
	}
	return append(appendFloat(buf, v), '\n')
}

// appendFloat formats as the text encoder does (which writes -0 as 0).
func appendFloat(buf []byte, v float64) []byte {
	if v == 0 {
		return append(buf, '0')
	}
	return strconv.AppendFloat(buf, v, 'g', -1, 64)
}

// appendEscaped escapes as the text encoder does: backslash and newline,
// and the double quote inside a label value. Most values need none and
// are copied whole.
func appendEscaped(buf []byte, s string, quoted bool) []byte {
	if !needsEscape(s, quoted) {
		return append(buf, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			buf = append(buf, `\\`...)
		case c == '\n':
			buf = append(buf, `\n`...)
		case c == '"' && quoted:
			buf = append(buf, `\"`...)
		default:
			buf = append(buf, c)
		}
	}
	return buf
}

// needsEscape reports whether appendEscaped changes s: byte by byte for
// short values, by the vectorized byte search for long ones (a Kubernetes
// cgroup path is ~150 bytes).
func needsEscape(s string, quoted bool) bool {
	if len(s) >= 32 {
		return strings.IndexByte(s, '\\') >= 0 || strings.IndexByte(s, '\n') >= 0 || quoted && strings.IndexByte(s, '"') >= 0
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '\n' || c == '"' && quoted {
			return true
		}
	}
	return false
}
