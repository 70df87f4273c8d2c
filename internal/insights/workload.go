package insights

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Workload names what an insight is about: a container of a Kubernetes
// workload (its owner: a Deployment, StatefulSet, ..., all its pods
// together), a container of a bare pod, or a cgroup outside Kubernetes.
// Pod and Cgroup are those of the most recent series when several pods
// are pooled (Pods says how many).
type Workload struct {
	Namespace string `json:"namespace"`
	OwnerKind string `json:"owner_kind,omitempty"`
	OwnerName string `json:"owner_name,omitempty"`
	Pod       string `json:"pod"`
	Container string `json:"container"`
	Cgroup    string `json:"cgroup"`
	Pods      int    `json:"pods,omitempty"`
	Node      string `json:"node,omitempty"`

	image, revision string
}

// Name is how a workload is shown: kind/name, namespace/pod, or the cgroup.
func (w Workload) Name() string {
	switch {
	case w.OwnerName != "":
		return w.OwnerKind + "/" + w.OwnerName
	case w.Pod != "":
		return w.Pod
	}
	return w.Cgroup
}

// key groups series of one workload: its owner and container, else its
// pod and container, else its cgroup.
func (w Workload) key() string {
	switch {
	case w.OwnerName != "":
		return strings.Join([]string{w.Namespace, w.OwnerKind, w.OwnerName, w.Container}, "\x00")
	case w.Pod != "":
		return strings.Join([]string{w.Namespace, "", w.Pod, w.Container}, "\x00")
	}
	return "\x00\x00\x00" + w.Cgroup
}

func (w Workload) labels() map[string]string {
	return map[string]string{
		"namespace": w.Namespace, "pod": w.Pod, "container": w.Container, "cgroup": w.Cgroup,
		"owner_kind": w.OwnerKind, "owner_name": w.OwnerName, "image": w.image, "revision": w.revision,
	}
}

// owner is a container's workload as orb8_workload_info says.
type owner struct{ kind, name, image, revision string }

func podKey(l map[string]string) string {
	return l["namespace"] + "/" + l["pod"] + "/" + l["container"]
}

// owners reads the owner of every container seen in the window.
func owners(ctx context.Context, src Source, f Filter, w Window) (map[string]owner, error) {
	expr := fmt.Sprintf("last_over_time(%s[%s])", f.selector("orb8_workload_info"), promDuration(w.Length()))
	series, err := src.Instant(ctx, expr, w.End)
	if err != nil {
		return nil, err
	}
	out := map[string]owner{}
	for _, s := range series {
		out[podKey(s.Labels)] = owner{s.Labels["owner_kind"], s.Labels["owner_name"], s.Labels["image"], s.Labels["revision"]}
	}
	return out, nil
}

// workloadOf is the workload of a series' labels.
func workloadOf(l map[string]string, own map[string]owner) Workload {
	w := Workload{Namespace: l["namespace"], Pod: l["pod"], Container: l["container"], Cgroup: l["cgroup"], Node: l["node"]}
	if o, ok := own[podKey(l)]; ok && w.Pod != "" {
		w.OwnerKind, w.OwnerName, w.image, w.revision = o.kind, o.name, o.image, o.revision
	}
	return w
}

// leaves says which cgroups of the series have no descendant among them.
// Cgroup counters are hierarchical (a pod's cgroup holds its containers',
// / holds everything): adding a cgroup to its descendants counts twice.
func leaves(series []Series) map[string]bool {
	paths := make([]string, 0, len(series))
	for _, s := range series {
		paths = append(paths, s.Labels["cgroup"])
	}
	sort.Strings(paths)
	out := make(map[string]bool, len(paths))
	for i, p := range paths {
		// Sorted, a descendant (p + "/...") follows p, after any sibling
		// sharing its prefix ("p-x" sorts before "p/x" as '-' < '/').
		parent := false
		for _, q := range paths[i+1:] {
			if strings.HasPrefix(q, p+"/") || p == "/" && q != "/" {
				parent = true
				break
			}
			if !strings.HasPrefix(q, p) {
				break
			}
		}
		out[p] = !parent
	}
	return out
}

// group is the series of one workload.
type group struct {
	w      Workload
	series []Series
}

// groupSeries groups the leaf series the filter keeps by workload; pods'
// own sandbox containers (no container name) are kept only with sandboxes.
func groupSeries(series []Series, own map[string]owner, f Filter, sandboxes bool) []*group {
	leaf := leaves(series)
	byKey := map[string]*group{}
	var order []string
	for _, s := range series {
		w := workloadOf(s.Labels, own)
		if !leaf[w.Cgroup] || !f.matches(w) || w.Pod != "" && w.Container == "" && !sandboxes {
			continue
		}
		k := w.key()
		g := byKey[k]
		if g == nil {
			g = &group{w: w}
			byKey[k] = g
			order = append(order, k)
		}
		g.series = append(g.series, s)
	}
	out := make([]*group, 0, len(order))
	for _, k := range order {
		g := byKey[k]
		g.w = latest(g)
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].w.key() < out[j].w.key() })
	return out
}

// latest is the group's workload named by its most recent series, with the
// number of pods pooled.
func latest(g *group) Workload {
	pods := map[string]bool{}
	var last Series
	var lastT int64 = -1 << 63
	for _, s := range g.series {
		pods[s.Labels["pod"]] = true
		if n := len(s.Points); n > 0 && s.Points[n-1].T.UnixNano() > lastT {
			last, lastT = s, s.Points[n-1].T.UnixNano()
		}
	}
	w := g.w
	if last.Labels != nil {
		w.Pod, w.Cgroup = last.Labels["pod"], last.Labels["cgroup"]
	}
	if w.Pod != "" {
		w.Pods = len(pods)
	}
	return w
}
