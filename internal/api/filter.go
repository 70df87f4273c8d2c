package api

import (
	"fmt"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/access"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/humanize"
)

// matcher is a compiled WorkloadFilter.
type matcher struct {
	namespace string
	pod       string
	podPrefix bool
	cgroup    string
	cgPrefix  bool
	selector  labels.Selector // nil when empty
	labels    LabelSource
	// scope is what the caller may see; nil when the request was already
	// authorized as a whole (event streams, whose filter runs per event).
	scope *access.Scope
}

// Bounds of a filter's parts: Kubernetes' own for names, a cgroup path's
// (PATH_MAX), and a selector far longer than any written by hand.
const (
	maxNamespace  = 63
	maxPodName    = 253
	maxCgroupPath = 4096
	maxSelector   = 1024
	// maxNameFilter bounds a DNS name filter (a DNS name has at most 253 characters).
	maxNameFilter = 255
)

// compileFilter checks a filter once per request, so matching is cheap.
func compileFilter(f *pb.WorkloadFilter, src LabelSource) (*matcher, error) {
	for _, b := range []struct {
		what  string
		value string
		max   int
	}{{"namespace", f.GetNamespace(), maxNamespace}, {"pod", f.GetPod(), maxPodName}, {"cgroup", f.GetCgroup(), maxCgroupPath}, {"selector", f.GetSelector(), maxSelector}} {
		if len(b.value) > b.max {
			return nil, fmt.Errorf("%s filter of %d bytes: at most %d", b.what, len(b.value), b.max)
		}
	}
	m := &matcher{namespace: f.GetNamespace(), pod: f.GetPod(), cgroup: f.GetCgroup(), labels: src}
	if p, ok := strings.CutSuffix(m.pod, "*"); ok {
		if p == "" {
			return nil, fmt.Errorf(`pod filter "*" matches every pod: give a prefix before the *, or no pod filter`)
		}
		m.pod, m.podPrefix = p, true
	}
	if m.cgroup != "" {
		if !strings.HasPrefix(m.cgroup, "/") {
			return nil, fmt.Errorf("cgroup filter %q: want a path starting with /", m.cgroup)
		}
		m.cgPrefix = strings.HasSuffix(m.cgroup, "/") && m.cgroup != "/"
		if !m.cgPrefix {
			m.cgroup = path.Clean(m.cgroup)
		}
	}
	if s := strings.TrimSpace(f.GetSelector()); s != "" {
		sel, err := labels.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("label selector %q: %s", s, humanize.OneLine(err.Error()))
		}
		m.selector = sel
	}
	return m, nil
}

// all reports whether the filter selects everything.
func (m *matcher) all() bool {
	return m.namespace == "" && m.pod == "" && !m.podPrefix && m.cgroup == "" && m.selector == nil
}

// match reports whether a workload passes the filter.
func (m *matcher) match(namespace, pod, cgroupPath string) bool {
	if m.namespace != "" && namespace != m.namespace {
		return false
	}
	if m.podPrefix {
		if !strings.HasPrefix(pod, m.pod) {
			return false
		}
	} else if m.pod != "" && pod != m.pod {
		return false
	}
	if m.cgroup != "" {
		if m.cgPrefix && !strings.HasPrefix(cgroupPath, m.cgroup) || !m.cgPrefix && cgroupPath != m.cgroup {
			return false
		}
	}
	if m.selector != nil && !m.selector.Matches(labels.Set(m.podLabels(namespace, pod))) {
		return false
	}
	return m.scope == nil || m.scope.Namespace(namespace)
}

func (m *matcher) matchWorkload(w *cgroup.Workload) bool {
	return m.match(w.Namespace, w.Pod, w.Path)
}

func (m *matcher) podLabels(namespace, pod string) map[string]string {
	if m.labels == nil || pod == "" {
		return nil
	}
	return m.labels.PodLabels(namespace, pod)
}
