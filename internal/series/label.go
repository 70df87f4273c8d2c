package series

import (
	"fmt"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// constLabel is a label every series of an exposition carries (the agent's
// cluster name), which no collector knows of.
type constLabel struct{ name, value string }

// constIndex stands for the constant label among a lineFormat's label
// value indexes.
const constIndex = -1

// lineFormat is how the text exposition writes a family's labels: label
// value indexes in label name order (constIndex for the constant label)
// and what precedes each.
type lineFormat struct {
	order      []int
	openers    []string
	constValue string
}

// lineFormat is how samples of d are written with the constant label c
// (none when nil) among their own.
func (d *Desc) lineFormat(c *constLabel) *lineFormat {
	if c == nil {
		return &lineFormat{order: d.order, openers: d.openers}
	}
	at := len(d.order)
	for i, l := range d.order {
		if d.labels[l] > c.name {
			at = i
			break
		}
	}
	order := slices.Insert(slices.Clone(d.order), at, constIndex)
	names := make([]string, len(order))
	for i, l := range order {
		names[i] = c.name
		if l != constIndex {
			names[i] = d.labels[l]
		}
	}
	return &lineFormat{order: order, openers: openers(names), constValue: c.value}
}

// AddLabel gives every series of the exposition the label name=value, in
// the place the registry would sort it to. A metric that has a label of
// that name already is left out and named in the error.
func (e *Exposition) AddLabel(name, value string) error {
	var clashing []string
	e.workload = slices.DeleteFunc(e.workload, func(cf *collectedFamily) bool {
		if slices.Contains(cf.d.labels, name) {
			clashing = append(clashing, cf.d.name)
			return true
		}
		return false
	})
	e.label = &constLabel{name, value}
	var err error
	e.Rest, err = AddLabel(e.Rest, name, value)
	if len(clashing) > 0 {
		err = clashError(name, append(clashing, familyNames(err)...))
	}
	return err
}

// AddLabel gives every series of families the label name=value, in label
// name order, as a registry's constant label would be. A family with a
// series that has a label of that name already is left out and named in
// the error.
func AddLabel(families []*dto.MetricFamily, name, value string) ([]*dto.MetricFamily, error) {
	var clashing []string
	kept := families[:0]
	for _, f := range families {
		if labelled(f, name, value) {
			kept = append(kept, f)
		} else {
			clashing = append(clashing, f.GetName())
		}
	}
	if len(clashing) > 0 {
		return kept, clashError(name, clashing)
	}
	return kept, nil
}

// labelled adds name=value to every series of f; false when a series has
// the label already (f is then unchanged).
func labelled(f *dto.MetricFamily, name, value string) bool {
	for _, m := range f.Metric {
		if slices.ContainsFunc(m.Label, func(l *dto.LabelPair) bool { return l.GetName() == name }) {
			return false
		}
	}
	for _, m := range f.Metric {
		at, _ := slices.BinarySearchFunc(m.Label, name, func(l *dto.LabelPair, name string) int {
			return strings.Compare(l.GetName(), name)
		})
		m.Label = slices.Insert(m.Label, at, &dto.LabelPair{Name: proto.String(name), Value: proto.String(value)})
	}
	return true
}

// LabelClashError names the metrics left out because they have a label of
// the name added to every series already.
type LabelClashError struct {
	Label   string
	Metrics []string
}

func (e *LabelClashError) Error() string {
	return fmt.Sprintf("metrics %s have a %q label of their own, which the exported %q label would overwrite: left out",
		strings.Join(e.Metrics, ", "), e.Label, e.Label)
}

func clashError(label string, metrics []string) error {
	slices.Sort(metrics)
	return &LabelClashError{Label: label, Metrics: metrics}
}

// familyNames are the metrics a LabelClashError names; none for nil.
func familyNames(err error) []string {
	if c, ok := err.(*LabelClashError); ok {
		return c.Metrics
	}
	return nil
}
