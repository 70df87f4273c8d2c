package api

import (
	"path"
	"strings"
	"testing"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

type fixedLabels map[string]string

func (l fixedLabels) PodLabels(string, string) map[string]string { return l }

// FuzzWorkloadFilter: any filter a client sends either compiles or gives a
// one-line error, matching never panics, and a filter without a selector
// selects the workload it names.
func FuzzWorkloadFilter(f *testing.F) {
	for _, s := range [][4]string{
		{"", "", "", ""},
		{"default", "web-0", "", ""},
		{"default", "web-*", "/kubepods/", "app=web,tier!=cache"},
		{"", "*", "/", "app in (a,b)"},
		{"", "", "/system.slice/../x", "!app"},
		{"", "", "relative", ""},
		{"", "", "", "app=(("},
	} {
		f.Add(s[0], s[1], s[2], s[3], "default", "web-0", "/kubepods/pod1/c1")
	}
	f.Fuzz(func(t *testing.T, namespace, pod, cgroup, selector, wNamespace, wPod, wCgroup string) {
		m, err := compileFilter(&pb.WorkloadFilter{Namespace: namespace, Pod: pod, Cgroup: cgroup, Selector: selector}, fixedLabels{"app": "web"})
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		m.match(wNamespace, wPod, wCgroup)
		if strings.TrimSpace(selector) != "" {
			return
		}
		named := strings.TrimSuffix(pod, "*")
		if named != pod {
			named += "x" // a pod the prefix selects
		}
		namedCgroup := cgroup
		if cgroup != "" {
			if strings.HasSuffix(cgroup, "/") && cgroup != "/" {
				namedCgroup += "c" // a cgroup under the prefix
			} else {
				namedCgroup = path.Clean(cgroup)
			}
		}
		if !m.match(namespace, named, namedCgroup) {
			t.Fatalf("filter %q/%q/%q does not select workload %q/%q/%q", namespace, pod, cgroup, namespace, named, namedCgroup)
		}
	})
}
