package kube

import (
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
)

// Filter decides which pods the agent reports on. Hidden pods produce no
// series and no events (cgroup.Workload.Hidden). The zero Filter shows all.
type Filter struct {
	include, exclude map[string]bool
	pods, namespaces labels.Selector
}

// NewFilter builds a filter; empty settings select every pod.
func NewFilter(include, exclude []string, podSelector, namespaceSelector string) (Filter, error) {
	f := Filter{include: set(include), exclude: set(exclude)}
	var err error
	if f.pods, err = labels.Parse(podSelector); err != nil {
		return Filter{}, fmt.Errorf("pod selector %q: %w", podSelector, err)
	}
	if f.namespaces, err = labels.Parse(namespaceSelector); err != nil {
		return Filter{}, fmt.Errorf("namespace selector %q: %w", namespaceSelector, err)
	}
	return f, nil
}

// Visible reports whether a pod in namespace ns with the given pod and
// namespace labels is reported.
func (f Filter) Visible(ns string, podLabels, nsLabels map[string]string) bool {
	if len(f.include) > 0 && !f.include[ns] {
		return false
	}
	if f.exclude[ns] {
		return false
	}
	return (f.pods == nil || f.pods.Matches(labels.Set(podLabels))) &&
		(f.namespaces == nil || f.namespaces.Matches(labels.Set(nsLabels)))
}

// usesNamespaceLabels reports whether visibility depends on namespace labels.
func (f Filter) usesNamespaceLabels() bool { return f.namespaces != nil && !f.namespaces.Empty() }

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
