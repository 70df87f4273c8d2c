package docgen

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/export"
)

// Metric is one metric the agent can export, as its descriptor has it.
type Metric struct {
	Name   string
	Help   string
	Labels []string
}

var (
	fqNameRE = regexp.MustCompile(`fqName: "([^"]*)"`)
	helpRE   = regexp.MustCompile(`help: ("(?:[^"\\]|\\.)*")`)
	labelsRE = regexp.MustCompile(`constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}`)
)

// Described lists every metric the agent can export with every probe of the
// catalogue enabled, sorted by name. It reads the descriptors, so no probe
// needs to run (or find its hardware). The exporter's own series cap counter
// is included.
func Described() ([]Metric, error) {
	cfg := config.Default()
	cfg.Probes = []string{"all"}
	a, err := agent.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	defer a.Close()
	ch := make(chan *prometheus.Desc)
	go func() {
		a.Describe(ch)
		close(ch)
	}()
	byName := map[string]Metric{}
	for d := range ch {
		m, ok := parseDesc(d.String())
		if ok {
			byName[m.Name] = m
		}
	}
	capped := export.NewSeriesCap(nil, 1)
	capped.Keep(export.DroppedMetricName, 2)
	for _, f := range capped.Cap(nil) {
		byName[f.GetName()] = Metric{Name: f.GetName(), Help: f.GetHelp(), Labels: []string{"metric"}}
	}
	out := make([]Metric, 0, len(byName))
	for _, m := range byName {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Metric) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// parseDesc reads a prometheus.Desc's String form; false for an invalid
// descriptor (registration reports those).
func parseDesc(s string) (Metric, bool) {
	name := fqNameRE.FindStringSubmatch(s)
	labels := labelsRE.FindStringSubmatch(s)
	if name == nil || labels == nil {
		return Metric{}, false
	}
	m := Metric{Name: name[1]}
	if h := helpRE.FindStringSubmatch(s); h != nil {
		m.Help, _ = strconv.Unquote(h[1])
	}
	for _, pair := range strings.Split(labels[1], ",") {
		if k, _, ok := strings.Cut(pair, "="); ok {
			m.Labels = append(m.Labels, k)
		}
	}
	for _, l := range strings.Split(labels[2], ",") {
		if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
			m.Labels = append(m.Labels, l)
		}
	}
	return m, true
}

// Metrics writes metrics.md: every metric with its labels and help.
func Metrics(out Files) error {
	metrics, err := Described()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString(generatedNote("the descriptors the agent registers with every probe enabled"))
	b.WriteString(`# Metrics reference

Every metric the agent can export (all probes enabled), with its labels and help text,
as registered in the code. Types, units and where each figure comes from are in the
[metrics guide](../metrics.md), which ` + "`test/contract`" + ` keeps complete against this list.

` + fmt.Sprintf("%d metrics.", len(metrics)) + `

| metric | labels | help |
|---|---|---|
`)
	for _, m := range metrics {
		labels := make([]string, len(m.Labels))
		for i, l := range m.Labels {
			labels[i] = "`" + l + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", m.Name, strings.Join(labels, ", "), escapeCell(m.Help))
	}
	out["metrics.md"] = b.Bytes()
	return nil
}
