package export

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/orb8/orb8/internal/series"
)

// ClusterLabel names the cluster an agent belongs to on every series it
// serves on /metrics (--cluster-name); OTLP carries the same name as the
// resource attribute k8s.cluster.name. Thanos, Mimir and Prometheus's
// external_labels call it so by convention.
const ClusterLabel = "cluster"

// clusterName is what a cluster name may be: a DNS label's characters
// (letters, digits, '-'), plus '.' and '_', starting and ending with a
// letter or digit, at most 63 characters; it then needs no quoting in
// PromQL, Grafana variables, OTel attributes or file names.
var clusterName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`)

// ValidClusterName says why name cannot be a cluster name, or nil.
func ValidClusterName(name string) error {
	if !clusterName.MatchString(name) {
		return fmt.Errorf("invalid cluster name %q: want 1 to 63 letters, digits, '.', '_' or '-', starting and ending with a letter or digit (e.g. prod-eu-1)", name)
	}
	return nil
}

// clusterLabelled is a Gatherer whose every series carries
// cluster=<name>; a metric with a cluster label of its own is left out
// and reported.
type clusterLabelled struct {
	g    prometheus.Gatherer
	name string
}

// Gather implements prometheus.Gatherer.
func (c clusterLabelled) Gather() ([]*dto.MetricFamily, error) {
	families, err := c.g.Gather()
	families, clash := series.AddLabel(families, ClusterLabel, c.name)
	return families, errors.Join(err, clash)
}
