package kube

import (
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/series"
)

// Labels of the pod template's revision: a rollout changes them even when
// the image stays.
const (
	podTemplateHashLabel     = "pod-template-hash"        // Deployment's ReplicaSets
	controllerRevisionLabel  = "controller-revision-hash" // StatefulSets, DaemonSets
	ownerKindPod             = "Pod"                      // a pod without a controller is its own workload
	ownerKindReplicaSet      = "ReplicaSet"
	ownerKindJob             = "Job"
	maxResourcesPerContainer = 16
)

// workloadMetrics are the per-container series ContainerResources exports.
var workloadMetrics series.Set

var (
	requestsDesc = workloadMetrics.Workload("orb8_workload_resource_requests", "Resources the container requests in its pod spec: cpu in cores, memory in bytes, devices (e.g. nvidia.com/gpu) as a count.", "resource")
	limitsDesc   = workloadMetrics.Workload("orb8_workload_resource_limits", "Resource limits of the container in its pod spec, in the units of orb8_workload_resource_requests.", "resource")
	infoDesc     = workloadMetrics.Workload("orb8_workload_info", "The container's workload (always 1): the controller that owns its pod (Deployment, StatefulSet, DaemonSet, CronJob, Job, ReplicaSet; Pod for a bare pod), the image, and the pod template's revision, which a rollout changes.", "owner_kind", "owner_name", "image", "revision")
)

// ref names a controller: a pod's, or a ReplicaSet's or Job's.
type ref struct{ kind, name string }

// podSpec is what a pod entry keeps of its spec for the workload series.
type podSpec struct {
	controller ref // the pod's controller; zero for a bare pod
	revision   string
	containers map[string]corev1.Container // by name: image, requests, limits
}

func newPodSpec(p *corev1.Pod) podSpec {
	s := podSpec{containers: make(map[string]corev1.Container, len(p.Spec.Containers))}
	if c := metav1.GetControllerOfNoCopy(p); c != nil {
		s.controller = ref{c.Kind, c.Name}
	}
	s.revision = p.Labels[podTemplateHashLabel]
	if s.revision == "" {
		s.revision = p.Labels[controllerRevisionLabel]
	}
	for _, c := range p.Spec.Containers {
		s.containers[c.Name] = c
	}
	return s
}

// setController records (or, deleted, forgets) the controller of a
// ReplicaSet or Job, which names the workload of the pods it owns; one
// without a controller is recorded too (the zero ref): it is listed, and
// names its pods itself.
func (x *Index) setController(kind string, m *metav1.ObjectMeta, deleted bool) {
	key := kind + "/" + m.Namespace + "/" + m.Name
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.controllers == nil {
		x.controllers = map[string]ref{}
	}
	var up ref
	if c := metav1.GetControllerOfNoCopy(m); c != nil {
		up = ref{c.Kind, c.Name}
	}
	// A status update (replicas ready, pods succeeded) changes no answer:
	// caches keyed by the version stay.
	if old, had := x.controllers[key]; had == !deleted && old == up {
		return
	}
	x.version++
	if deleted {
		delete(x.controllers, key)
		return
	}
	x.controllers[key] = up
}

// ownerWait is how long a pod's owner waits for its ReplicaSet or Job to
// be listed: pods and their controllers come through separate watches, in
// any order, and a Deployment's series should hold its pods' first counts
// rather than leave them under the ReplicaSet. Past it (a ReplicaSet the
// agent may not list), the ReplicaSet or Job itself is the owner.
const ownerWait = 30 * time.Second

// ownerOf names a pod's workload: its controller, followed up through a
// ReplicaSet to its Deployment and through a Job to its CronJob; final is
// false while that ReplicaSet or Job is not listed yet (ownerWait), the
// answer then its controller. Callers hold x.mu.
func (x *Index) ownerOf(e *podEntry) (o ref, final bool) {
	c := e.spec.controller
	switch c.kind {
	case "":
		return ref{ownerKindPod, e.name}, true
	case ownerKindReplicaSet, ownerKindJob:
		up, listed := x.controllers[c.kind+"/"+e.namespace+"/"+c.name]
		switch {
		case up.kind != "":
			return up, true
		case !listed && x.now().Sub(e.since) < ownerWait:
			return c, false
		}
	}
	return c, true
}

// containerFacts are the series values of one container.
type containerFacts struct {
	owner    ref
	revision string
	image    string
	requests []resourceValue
	limits   []resourceValue
}

type resourceValue struct {
	name  string
	value float64
}

// facts returns a container's facts, false when its pod or container is
// not known.
func (x *Index) facts(podUID, container string) (containerFacts, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e := x.pods[podUID]
	if e == nil {
		return containerFacts{}, false
	}
	c, ok := e.spec.containers[container]
	if !ok {
		return containerFacts{}, false
	}
	owner, _ := x.ownerOf(e) // a gauge: what is known now
	return containerFacts{
		owner: owner, revision: e.spec.revision, image: c.Image,
		requests: resources(c.Resources.Requests), limits: resources(c.Resources.Limits),
	}, true
}

// resources lists a resource list in base units (cpu "250m" -> 0.25),
// sorted by name, at most maxResourcesPerContainer of them.
func resources(rl corev1.ResourceList) []resourceValue {
	out := make([]resourceValue, 0, len(rl))
	for name, q := range rl {
		out = append(out, resourceValue{string(name), q.AsApproximateFloat64()})
	}
	slices.SortFunc(out, func(a, b resourceValue) int { return strings.Compare(a.name, b.name) })
	return out[:min(len(out), maxResourcesPerContainer)]
}

// LiveWorkloads is what the container resource series are made for: the
// resolver's existing cgroups with their names (*cgroup.Resolver).
type LiveWorkloads interface {
	Matching(match func(*cgroup.Workload) bool) []uint64
}

// ContainerResources exports the pod spec's requests and limits and the
// workload identity of every container cgroup of this node's pods.
type ContainerResources struct {
	index *Index
	live  LiveWorkloads
}

// NewContainerResources returns the collector of the containers live
// lists, named from index.
func NewContainerResources(index *Index, live LiveWorkloads) *ContainerResources {
	return &ContainerResources{index: index, live: live}
}

// Describe implements prometheus.Collector.
func (c *ContainerResources) Describe(ch chan<- *prometheus.Desc) { workloadMetrics.Describe(ch) }

// Collect implements prometheus.Collector: one pass over the live cgroups,
// each container's facts read from the index (no API call).
func (c *ContainerResources) Collect(ch chan<- prometheus.Metric) {
	var containers []cgroup.Workload
	c.live.Matching(func(w *cgroup.Workload) bool {
		if w.Container != "" && !w.Hidden {
			containers = append(containers, *w)
		}
		return false
	})
	for _, w := range containers {
		f, ok := c.index.facts(w.PodUID, w.Container)
		if !ok {
			continue
		}
		w.ID = 0
		ch <- series.Metric(infoDesc, prometheus.GaugeValue, 1, w, f.owner.kind, f.owner.name, f.image, f.revision)
		for _, r := range f.requests {
			ch <- series.Metric(requestsDesc, prometheus.GaugeValue, r.value, w, r.name)
		}
		for _, r := range f.limits {
			ch <- series.Metric(limitsDesc, prometheus.GaugeValue, r.value, w, r.name)
		}
	}
}

// Version changes whenever an answer of Owner (series.Owners), of Enrich
// (cgroup.VersionedEnricher: names, hidden) or of PodLabels may have.
func (x *Index) Version() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.version + 1 // never 0, which says "unknown"
}

// Owner names the controller of a pod of this node: its Deployment,
// StatefulSet, DaemonSet, CronJob, Job or ReplicaSet, or the pod itself
// when it has none; a ReplicaSet or Job while its own controller is not
// known. False while the pod is not known.
func (x *Index) Owner(namespace, pod string) (kind, name string, ok bool) {
	kind, name, state := x.PodOwner(namespace, pod)
	return kind, name, state != series.OwnerUnknown
}

// PodOwner is Owner for series.Owners, which holds a pod's series back
// while its ReplicaSet or Job is not yet listed (for up to ownerWait).
func (x *Index) PodOwner(namespace, pod string) (kind, name string, state series.OwnerState) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e := x.pods[x.podUIDs[namespace+"/"+pod]]
	if e == nil {
		return "", "", series.OwnerUnknown
	}
	o, final := x.ownerOf(e)
	if !final {
		return o.kind, o.name, series.OwnerPending
	}
	return o.kind, o.name, series.OwnerKnown
}
