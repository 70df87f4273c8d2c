package agent

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/orb8/orb8/internal/accelerator"
	"github.com/orb8/orb8/internal/anomaly"
	"github.com/orb8/orb8/internal/export"
	"github.com/orb8/orb8/internal/kube"
	"github.com/orb8/orb8/internal/series"
)

// MetricInfo is one metric the agent can export, as its descriptor has it.
type MetricInfo struct {
	Name   string
	Help   string
	Labels []string
}

var (
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
		if m, ok := parseDesc(d); ok {
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

// MetricNames lists every metric family the agent can export, by name:
// its own (every probe's included) and the Go runtime's and process's.
func MetricNames() []string {
	descs := describeFamilies()
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		descs = append(descs, series.Describe(c)...)
	}
	names := make([]string, 0, len(descs))
	for _, d := range descs {
		names = append(names, series.DescName(d))
	}
	slices.Sort(names)
	return slices.Compact(names)
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
		accelerator.Describe(ch)
		anomaly.Describe(ch)
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
func parseDesc(d *prometheus.Desc) (MetricInfo, bool) {
	s := d.String()
	name := series.DescName(d)
	labels := labelsRE.FindStringSubmatch(s)
	if name == "" || labels == nil {
		return MetricInfo{}, false
	}
	m := MetricInfo{Name: name}
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
