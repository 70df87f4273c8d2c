package contract

import (
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/export"
	"github.com/orb8/orb8/internal/kube"
)

// metricsDoc is the one list of metric names users may rely on.
const metricsDoc = "../../docs/metrics.md"

var (
	fqNameRE = regexp.MustCompile(`fqName: "([^"]*)"`)
	labelsRE = regexp.MustCompile(`constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}`)
	docRowRE = regexp.MustCompile("(?m)^\\|\\s*`(orb8_[a-zA-Z0-9_]+)`")
)

// described maps every metric the agent can export, with every probe of the
// catalogue enabled and the Kubernetes collectors, to its label names. It
// reads the descriptors, so a probe need not run (or find its hardware, or
// an API server) for its metrics to be checked.
var described = sync.OnceValues(func() (map[string][]string, error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Default()
	cfg.Probes = []string{"all"}
	a, err := agent.New(cfg, log)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	// Never started: New contacts no server.
	w, err := kube.New(&rest.Config{Host: "http://127.0.0.1:1"}, kube.Options{}, log)
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
	out := map[string][]string{export.DroppedMetricName: {"metric"}}
	for d := range ch {
		s := d.String()
		name := fqNameRE.FindStringSubmatch(s)
		labels := labelsRE.FindStringSubmatch(s)
		if name == nil || labels == nil {
			continue // an invalid descriptor; registration reports those
		}
		for _, pair := range strings.Split(labels[1], ",") {
			if k, _, ok := strings.Cut(pair, "="); ok {
				out[name[1]] = append(out[name[1]], k)
			}
		}
		for _, l := range strings.Split(labels[2], ",") {
			if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
				out[name[1]] = append(out[name[1]], l)
			}
		}
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
