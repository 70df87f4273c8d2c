package policy

import (
	"slices"
	"strings"
)

// Selects reports whether p applies to the workload t.
//
// Every selector part that is given must match; an empty selector selects
// every workload (for a SecurityPolicy, every pod of its namespace):
//   - a SecurityPolicy selects only pods of its own Namespace;
//   - Namespaces: t.Namespace is one of them;
//   - PodSelector: t.PodLabels satisfy it ({} selects every pod);
//   - Containers: t.Container is one of them;
//   - Cgroups: one prefix is t.Cgroup or an ancestor of it.
//
// Namespaces, PodSelector and Containers describe Kubernetes workloads, so a
// selector holding any of them never selects a workload outside Kubernetes
// (t.Namespace == ""); Cgroups alone is the way to select those.
func (p Policy) Selects(t Target) bool {
	s := p.Selector
	kubernetesOnly := p.Kind == KindNamespaced || len(s.Namespaces) > 0 || s.PodSelector != nil || len(s.Containers) > 0
	switch {
	case kubernetesOnly && t.Namespace == "":
		return false
	case p.Kind == KindNamespaced && t.Namespace != p.Namespace:
		return false
	case len(s.Namespaces) > 0 && !slices.Contains(s.Namespaces, t.Namespace):
		return false
	case s.PodSelector != nil && !s.PodSelector.Matches(t.PodLabels):
		return false
	case len(s.Containers) > 0 && !slices.Contains(s.Containers, t.Container):
		return false
	case len(s.Cgroups) > 0 && !slices.ContainsFunc(s.Cgroups, func(prefix string) bool { return cgroupUnder(t.Cgroup, prefix) }):
		return false
	}
	return true
}

// cgroupUnder reports whether path is prefix or below it at a "/" boundary.
func cgroupUnder(path, prefix string) bool {
	if prefix == "/" {
		return strings.HasPrefix(path, "/")
	}
	rest, ok := strings.CutPrefix(path, prefix)
	return ok && (rest == "" || rest[0] == '/')
}

// Matches reports whether labels satisfy the selector, as Kubernetes
// evaluates it.
func (s LabelSelector) Matches(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		if !r.Matches(labels) {
			return false
		}
	}
	return true
}

// Matches reports whether labels satisfy the requirement. An unknown
// operator matches nothing (Validate refuses it).
func (r LabelRequirement) Matches(labels map[string]string) bool {
	v, ok := labels[r.Key]
	switch r.Operator {
	case OpIn:
		return ok && slices.Contains(r.Values, v)
	case OpNotIn:
		return !ok || !slices.Contains(r.Values, v)
	case OpExists:
		return ok
	case OpDoesNotExist:
		return !ok
	}
	return false
}
