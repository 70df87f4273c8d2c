package agent

import (
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/orb8/orb8/internal/export"
	"github.com/orb8/orb8/internal/kube"
)

// MetricInfo is one metric the agent can export, as its descriptor has it.
type MetricInfo struct {
	Name   string
	Help   string
	Labels []string
}

var (
	fqNameRE = regexp.MustCompile(`fqName: "([^"]*)"`)
	helpRE   = regexp.MustCompile(`help: ("(?:[^"\\]|\\.)*")`)
	labelsRE = regexp.MustCompile(`constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}`)
)

// DescribedMetrics lists every metric the agent can export with every probe
// of the catalogue enabled, sorted by name: what the metrics reference and
// the contract tests check pages against. It reads the descriptors, so no
// probe needs to run (or find its hardware). The exporter's own series cap
// counter is included.
func DescribedMetrics() ([]MetricInfo, error) {
	cfg := DefaultConfig()
	cfg.Probes = []string{"all"}
	a, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	defer a.Close()
	// Never started: New contacts no server.
	w, err := kube.New(&rest.Config{Host: "http://127.0.0.1:1"}, kube.Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	ch := make(chan *prometheus.Desc)
	go func() {
		a.Describe(ch)
		w.Describe(ch)
		kube.NewContainerResources(w.Index, nil).Describe(ch)
		close(ch)
	}()
	byName := map[string]MetricInfo{}
	for d := range ch {
		if m, ok := parseDesc(d.String()); ok {
			byName[m.Name] = m
		}
	}
	capped := export.NewSeriesCap(nil, 1)
	capped.Keep(export.DroppedMetricName, 2)
	for _, f := range capped.Cap(nil) {
		byName[f.GetName()] = MetricInfo{Name: f.GetName(), Help: f.GetHelp(), Labels: []string{"metric"}}
	}
	out := make([]MetricInfo, 0, len(byName))
	for _, m := range byName {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b MetricInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// parseDesc reads a prometheus.Desc's String form; false for an invalid
// descriptor (registration reports those).
func parseDesc(s string) (MetricInfo, bool) {
	name := fqNameRE.FindStringSubmatch(s)
	labels := labelsRE.FindStringSubmatch(s)
	if name == nil || labels == nil {
		return MetricInfo{}, false
	}
	m := MetricInfo{Name: name[1]}
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
