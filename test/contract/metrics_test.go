package contract

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/export"
)

// metricsDoc is the one list of metric names users may rely on.
const metricsDoc = "../../docs/metrics.md"

var docRowRE = regexp.MustCompile("(?m)^\\|\\s*`(orb8_[a-zA-Z0-9_]+)`")

// described maps every metric the agent can export, with every probe of the
// catalogue enabled and the Kubernetes collectors, to its label names (the
// generated metrics reference reads the same descriptors).
var described = sync.OnceValues(func() (map[string][]string, error) {
	metrics, err := agent.DescribedMetrics()
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, m := range metrics {
		out[m.Name] = m.Labels
	}
	return out, nil
})

func describedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	m, err := described()
	if err != nil {
		t.Fatalf("build the agent with every probe: %v", err)
	}
	return m
}

// documented is the set of metric names in docs/metrics.md's tables.
func documented(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range docRowRE.FindAllStringSubmatch(string(data), -1) {
		out[m[1]] = true
	}
	if len(out) == 0 {
		t.Fatalf("%s lists no metric", metricsDoc)
	}
	return out
}

// unbounded are label names whose values grow with traffic, not with the
// number of workloads: addresses, ports, process ids, DNS names, paths.
var unbounded = []string{
	"ip", "addr", "address", "saddr", "daddr", "src", "dst", "peer", "remote", "local",
	"port", "sport", "dport", "pid", "tid", "tgid", "ppid", "uid", "comm", "filename", "file", "exe",
	"qname", "query", "dns_name", "domain", "host", "hostname", "url", "uri", "trace_id", "span_id",
}

func unboundedLabel(label string) bool {
	for _, bad := range unbounded {
		if label == bad || strings.HasSuffix(label, "_"+bad) || strings.HasPrefix(label, bad+"_") {
			return true
		}
	}
	return false
}

// The API's workload figures (orb8 workloads, orb8 top) fold metrics by
// name: each must be one the agent exports and docs/metrics.md documents,
// or a rename would silently empty a column.
func TestFiguresReadExportedMetrics(t *testing.T) {
	metrics, docs := describedMetrics(t), documented(t)
	for _, name := range api.FigureMetrics() {
		if _, ok := metrics[name]; !ok {
			t.Errorf("api figures read %s, which no probe describes", name)
		}
		if !docs[name] {
			t.Errorf("api figures read %s, which %s does not document", name, metricsDoc)
		}
	}
}

func TestNoMetricCarriesAnUnboundedLabel(t *testing.T) {
	metrics := describedMetrics(t)
	if len(metrics) < 10 {
		t.Fatalf("only %d metrics described: %v", len(metrics), metrics)
	}
	for name, labels := range metrics {
		for _, l := range labels {
			if unboundedLabel(l) {
				t.Errorf("%s has label %q: its values are unbounded; count or aggregate instead", name, l)
			}
		}
	}
}

// TestNoMetricHasAClusterLabel: --cluster-name gives every exported series
// cluster=<name>; a metric with a cluster label of its own would be left
// out of /metrics, so none of every probe's families may have one.
func TestNoMetricHasAClusterLabel(t *testing.T) {
	for name, labels := range describedMetrics(t) {
		if slices.Contains(labels, export.ClusterLabel) {
			t.Errorf("%s has a label %q of its own: rename it (--cluster-name adds that label to every series)", name, export.ClusterLabel)
		}
	}
}

func TestUnboundedLabelNames(t *testing.T) {
	for label, want := range map[string]bool{
		"ip": true, "remote_ip": true, "dst_port": true, "pid": true, "qname": true, "dns_name": true, "addr": true,
		"namespace": false, "pod": false, "container": false, "cgroup": false, "protocol": false, "direction": false,
		"qtype": false, "rcode": false, "syscall": false, "errno": false, "reason": false, "gpu": false, "uuid": false,
	} {
		if got := unboundedLabel(label); got != want {
			t.Errorf("unboundedLabel(%q) = %v, want %v", label, got, want)
		}
	}
}

func TestEveryExportedMetricIsDocumented(t *testing.T) {
	doc := documented(t)
	var missing []string
	for name := range describedMetrics(t) {
		if !doc[name] {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("metrics the agent exports but %s does not list (add a table row for each):\n  %s", metricsDoc, strings.Join(missing, "\n  "))
	}
}
