package agent

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

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
	byName := map[string]MetricInfo{}
	for _, d := range describeFamilies() {
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

// describeFamilies lists the descriptor of every orb8 metric an agent can
// export, every probe of the catalogue included, without building one:
// probes are built but never started.
func describeFamilies() []*prometheus.Desc {
	ch := make(chan *prometheus.Desc)
	go func() {
		defer close(ch)
		cfg := DefaultConfig()
		newSelfCollector(nil).Describe(ch)
		apiCollector{}.Describe(ch)
		for _, k := range catalog {
			k.build(nil, &cfg).Describe(ch)
		}
		kube.DescribeNode(ch)
		kube.NewContainerResources(nil, nil).Describe(ch)
	}()
	var out []*prometheus.Desc
	for d := range ch {
		out = append(out, d)
	}
	return out
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
