package kube

import (
	"maps"
	"net/netip"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/orb8/orb8/internal/cgroup"
)

// maxContainerIDs bounds the container ids a pod remembers: the current and
// previous ones of each container, plus older ones of restarted containers
// whose series are still within the agent's grace period.
const maxContainerIDs = 32

type podEntry struct {
	namespace, name string
	uid             string // in the API (a static pod's cgroups carry another)
	labels          map[string]string
	containers      map[string]string // container id (no runtime prefix) -> container name
	ips             []netip.Addr
	hidden          bool
	deletedAt       time.Time // zero while the pod exists
	since           time.Time // when the index first learned of the pod
	spec            podSpec
}

// Kinds of object NameIP names.
const (
	KindPod     = "pod"     // a pod of this node, or one behind a Service
	KindService = "service" // a Service ClusterIP
)

type owner struct{ kind, namespace, name string }

// sliceOwner counts the EndpointSlices that list an address (a pod behind
// two Services is in two slices).
type sliceOwner struct {
	owner
	refs int
}

// Index answers the agent's questions about Kubernetes objects from what the
// informers delivered: which pod and container a cgroup belongs to, and whose
// an IP address is. Every lookup is a map read under a read lock.
type Index struct {
	filter Filter

	mu         sync.RWMutex
	pods       map[string]*podEntry // by the pod UID its cgroups carry (cgroupUID)
	podUIDs    map[string]string    // "namespace/name" -> cgroupUID of the live pod
	nsLabels   map[string]map[string]string
	podIPs     map[netip.Addr]owner      // pods on this node
	serviceIPs map[netip.Addr]owner      // ClusterIPs
	sliceIPs   map[netip.Addr]sliceOwner // pods behind services, on any node
	slices     map[string][]netip.Addr   // EndpointSlice key -> its addresses
	// controllers: "ReplicaSet/ns/name" or "Job/ns/name" -> its controller.
	controllers map[string]ref
	// version counts changes of pods and controllers (Version).
	version uint64
	now     func() time.Time
}

// NewIndex returns an empty index that hides the pods f filters out.
func NewIndex(f Filter) *Index {
	return &Index{
		filter:     f,
		pods:       map[string]*podEntry{},
		podUIDs:    map[string]string{},
		nsLabels:   map[string]map[string]string{},
		podIPs:     map[netip.Addr]owner{},
		serviceIPs: map[netip.Addr]owner{},
		sliceIPs:   map[netip.Addr]sliceOwner{},
		slices:     map[string][]netip.Addr{},
		now:        time.Now,
	}
}

// Enrich implements cgroup.Enricher: it names the pod and container of a
// cgroup that carries a pod UID. A cgroup of a pod not (yet) known keeps its
// cgroup label only; names fill in once the informer delivers the pod.
func (x *Index) Enrich(w cgroup.Workload) cgroup.Workload {
	if w.PodUID == "" {
		return w
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	p, ok := x.pods[w.PodUID]
	if !ok {
		return w
	}
	w.Namespace, w.Pod, w.Hidden = p.namespace, p.name, p.hidden
	w.Container = p.containers[w.ContainerID]
	return w
}

// NameIP names the pod or service that owns ip: a pod of this node, a Service
// ClusterIP, or a pod behind a Service on any node (from EndpointSlices).
// kind is KindPod or KindService, and "" when the address is unknown.
func (x *Index) NameIP(ip netip.Addr) (kind, namespace, name string) {
	ip = ip.Unmap()
	x.mu.RLock()
	defer x.mu.RUnlock()
	o, ok := x.podIPs[ip]
	if !ok {
		o, ok = x.serviceIPs[ip]
	}
	if !ok {
		o = x.sliceIPs[ip].owner
	}
	return o.kind, o.namespace, o.name
}

// Pods is the number of pods indexed, deleted ones in their grace period included.
func (x *Index) Pods() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.pods)
}

// cgroupUID is the pod UID the kubelet names a pod's cgroups with: the
// pod's own, or for a static pod the hash of its manifest, which its mirror
// pod in the API carries as an annotation (its API UID is another).
func cgroupUID(p *corev1.Pod) string {
	if hash := p.Annotations[corev1.MirrorPodAnnotationKey]; hash != "" {
		return hash
	}
	return string(p.UID)
}

func (x *Index) setPod(p *corev1.Pod) {
	uid := cgroupUID(p)
	x.mu.Lock()
	defer x.mu.Unlock()
	old := x.pods[uid]
	e := &podEntry{namespace: p.Namespace, name: p.Name, uid: string(p.UID), labels: p.Labels, containers: containerNames(p), spec: newPodSpec(p), since: x.now()}
	e.hidden = !x.filter.Visible(p.Namespace, p.Labels, x.nsLabels[p.Namespace])
	if old != nil {
		e.since = old.since
		x.dropPodIPs(old)
		// Keep the ids of restarted containers so their series keep their names.
		if len(old.containers)+len(e.containers) <= maxContainerIDs {
			for id, name := range old.containers {
				if _, ok := e.containers[id]; !ok {
					e.containers[id] = name
				}
			}
		}
	}
	if !p.Spec.HostNetwork {
		for _, pip := range p.Status.PodIPs {
			if ip, err := netip.ParseAddr(pip.IP); err == nil {
				e.ips = append(e.ips, ip)
				x.podIPs[ip] = owner{KindPod, p.Namespace, p.Name}
			}
		}
	}
	key := p.Namespace + "/" + p.Name
	if old == nil || x.podUIDs[key] != uid || answersDiffer(old, e) {
		x.version++
	}
	x.pods[uid] = e
	x.podUIDs[key] = uid
}

// answersDiffer reports whether Enrich, Owner or PodLabels may answer
// otherwise for pod entry b than for a: most updates of a pod (its status,
// readiness, annotations) change none, and caches keyed by Version stay.
func answersDiffer(a, b *podEntry) bool {
	return a.namespace != b.namespace || a.name != b.name || a.hidden != b.hidden ||
		a.spec.controller != b.spec.controller || !maps.Equal(a.containers, b.containers) ||
		!maps.Equal(a.labels, b.labels) || !a.deletedAt.IsZero()
}

// PodLabels returns the labels of a pod of this node by name (nil when
// unknown), for label selectors on the API.
func (x *Index) PodLabels(namespace, pod string) map[string]string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if e := x.pods[x.podUIDs[namespace+"/"+pod]]; e != nil {
		return e.labels
	}
	return nil
}

// PodAPIUID returns the API UID of a pod of this node by name ("" when
// unknown), for references to it such as an Event's.
func (x *Index) PodAPIUID(namespace, pod string) string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if e := x.pods[x.podUIDs[namespace+"/"+pod]]; e != nil {
		return e.uid
	}
	return ""
}

// deletePod marks a pod gone; its names stay for the series of its cgroups
// until sweep, but its IPs are released at once (they are reused).
func (x *Index) deletePod(p *corev1.Pod, now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	uid := cgroupUID(p)
	x.version++
	if e, ok := x.pods[uid]; ok && e.deletedAt.IsZero() {
		e.deletedAt = now
		x.dropPodIPs(e)
		if key := e.namespace + "/" + e.name; x.podUIDs[key] == uid {
			delete(x.podUIDs, key)
		}
	}
}

func (x *Index) dropPodIPs(e *podEntry) {
	for _, ip := range e.ips {
		if o := x.podIPs[ip]; o.namespace == e.namespace && o.name == e.name {
			delete(x.podIPs, ip)
		}
	}
}

// sweep forgets pods deleted before the deadline.
func (x *Index) sweep(before time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for uid, e := range x.pods {
		if !e.deletedAt.IsZero() && e.deletedAt.Before(before) {
			delete(x.pods, uid)
			x.version++ // a sweep that forgets nothing keeps the caches keyed by version
		}
	}
}

func (x *Index) setNamespace(ns *corev1.Namespace, deleted bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if deleted {
		delete(x.nsLabels, ns.Name)
	} else {
		x.nsLabels[ns.Name] = ns.Labels
	}
	if !x.filter.usesNamespaceLabels() {
		return
	}
	x.version++ // the pods' visibility may change: answers of Enrich cached by version
	for _, e := range x.pods {
		if e.namespace == ns.Name {
			e.hidden = !x.filter.Visible(e.namespace, e.labels, x.nsLabels[ns.Name])
		}
	}
}

func (x *Index) setService(s *corev1.Service, deleted bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, c := range s.Spec.ClusterIPs {
		ip, err := netip.ParseAddr(c)
		if err != nil { // "None": headless
			continue
		}
		if deleted {
			delete(x.serviceIPs, ip)
		} else {
			x.serviceIPs[ip] = owner{KindService, s.Namespace, s.Name}
		}
	}
}

func (x *Index) setSlice(key string, s *discoveryv1.EndpointSlice, deleted bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, ip := range x.slices[key] {
		if o := x.sliceIPs[ip]; o.refs > 1 {
			o.refs--
			x.sliceIPs[ip] = o
		} else {
			delete(x.sliceIPs, ip)
		}
	}
	delete(x.slices, key)
	if deleted {
		return
	}
	var ips []netip.Addr
	for _, e := range s.Endpoints {
		for _, a := range e.Addresses {
			if ip, err := netip.ParseAddr(a); err == nil && e.TargetRef != nil {
				ips = append(ips, ip)
				x.sliceIPs[ip] = sliceOwner{owner{KindPod, e.TargetRef.Namespace, e.TargetRef.Name}, x.sliceIPs[ip].refs + 1}
			}
		}
	}
	x.slices[key] = ips
}

// containerNames maps every container id a pod's status names (current and
// last terminated) to its container's name.
func containerNames(p *corev1.Pod) map[string]string {
	m := map[string]string{}
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses} {
		for _, s := range list {
			if id := bareID(s.ContainerID); id != "" {
				m[id] = s.Name
			}
			if t := s.LastTerminationState.Terminated; t != nil {
				if id := bareID(t.ContainerID); id != "" {
					m[id] = s.Name
				}
			}
		}
	}
	return m
}

// bareID strips the runtime scheme: "containerd://<id>" -> "<id>".
func bareID(id string) string {
	if _, rest, ok := strings.Cut(id, "://"); ok {
		return rest
	}
	return id
}
