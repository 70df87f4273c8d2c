package insights

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// Filter picks the workloads an insight covers. Namespace, Pod and Cgroup
// become label matchers of every query; Workload and Selector are applied
// to each workload's labels, its owner's included, once they are known.
type Filter struct {
	Namespace string
	Pod       string // a trailing * matches a prefix
	Cgroup    string // a trailing / matches everything below
	// Workload matches the owner's name (a Deployment, StatefulSet, ...) or
	// a pod's name; a pod without an owner also by its prefix before
	// "-<hash>"; outside Kubernetes the cgroup or its last element.
	Workload string
	// Selector matches the series' labels (namespace, pod, container,
	// cgroup) and the owner's (owner_kind, owner_name, image, revision):
	// Prometheus holds no pod labels.
	Selector labels.Selector
}

// ParseSelector parses a -l selector ("owner_kind=Deployment,container!=istio-proxy").
func ParseSelector(s string) (labels.Selector, error) {
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid --selector %q: %v", s, err)
	}
	return sel, nil
}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Validate checks what the filter will put into PromQL.
func (f Filter) Validate() error {
	if f.Selector == nil {
		return nil
	}
	reqs, _ := f.Selector.Requirements()
	for _, r := range reqs {
		if !labelNameRE.MatchString(r.Key()) {
			return fmt.Errorf("invalid --selector key %q: series labels are Prometheus label names (namespace, pod, container, cgroup, owner_kind, owner_name, image, revision)", r.Key())
		}
	}
	return nil
}

// matchers are the PromQL label matchers of the filter, without braces
// ("" when none): `namespace="shop",pod=~"web-.*"`.
func (f Filter) matchers() string {
	var m []string
	if f.Namespace != "" {
		m = append(m, fmt.Sprintf("namespace=%q", f.Namespace))
	}
	if p, ok := strings.CutSuffix(f.Pod, "*"); ok {
		m = append(m, fmt.Sprintf("pod=~%q", regexp.QuoteMeta(p)+".*"))
	} else if f.Pod != "" {
		m = append(m, fmt.Sprintf("pod=%q", f.Pod))
	}
	if strings.HasSuffix(f.Cgroup, "/") {
		m = append(m, fmt.Sprintf("cgroup=~%q", regexp.QuoteMeta(f.Cgroup)+".*"))
	} else if f.Cgroup != "" {
		m = append(m, fmt.Sprintf("cgroup=%q", f.Cgroup))
	}
	return strings.Join(m, ",")
}

// selector is a series selector of metric with the filter's matchers and
// extra ones: orb8_cpu_usage_seconds_total{namespace="shop",container!=""}.
func (f Filter) selector(metric string, extra ...string) string {
	m := f.matchers()
	for _, e := range extra {
		if e == "" {
			continue
		}
		if m != "" {
			m += ","
		}
		m += e
	}
	return metric + "{" + m + "}"
}

// matches applies Workload and Selector to a workload.
func (f Filter) matches(w Workload) bool {
	if f.Selector != nil && !f.Selector.Matches(labels.Set(w.labels())) {
		return false
	}
	if f.Workload == "" {
		return true
	}
	switch {
	case w.OwnerName != "": // its owner, or the very pod (not a prefix: web-api's pods are not web's)
		return w.OwnerName == f.Workload || w.Pod == f.Workload
	case w.Pod != "":
		return w.Pod == f.Workload || strings.HasPrefix(w.Pod, f.Workload+"-")
	}
	return w.Cgroup == f.Workload || strings.HasSuffix(w.Cgroup, "/"+f.Workload)
}

// empty says whether the filter keeps everything.
func (f Filter) empty() bool {
	return f.Namespace == "" && f.Pod == "" && f.Cgroup == "" && f.Workload == "" && (f.Selector == nil || f.Selector.Empty())
}
