package kube

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Owner is the pod or Service that holds an address.
type Owner struct{ Kind, Namespace, Name string }

func (o Owner) key() string { return o.Kind + "/" + o.Namespace + "/" + o.Name }

// AddressIndex maps the pod IPs and Service ClusterIPs of a whole cluster to
// their owners, for a hub that names peers across clusters. It holds at
// most max addresses and counts those it had no room for.
type AddressIndex struct {
	max int

	mu      sync.RWMutex
	owners  map[netip.Addr]Owner
	held    map[string][]netip.Addr // Owner.key() -> the addresses it holds
	dropped uint64
	version uint64
}

// NewAddressIndex returns an empty index of at most max addresses.
func NewAddressIndex(max int) *AddressIndex {
	return &AddressIndex{max: max, owners: map[netip.Addr]Owner{}, held: map[string][]netip.Addr{}}
}

// Lookup names the owner of ip.
func (x *AddressIndex) Lookup(ip netip.Addr) (Owner, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	o, ok := x.owners[ip.Unmap()]
	return o, ok
}

// Stats are the addresses indexed, those dropped for want of room, and a
// number that changes whenever the index does.
func (x *AddressIndex) Stats() (addresses int, dropped, version uint64) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.owners), x.dropped, x.version
}

// Range calls fn for every address, under the index's read lock.
func (x *AddressIndex) Range(fn func(netip.Addr, Owner)) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for ip, o := range x.owners {
		fn(ip, o)
	}
}

// set makes ips the addresses of o (none: o is gone). An address another
// object held passes to o: a pod IP is reused once its pod is gone, and the
// old pod's deletion then leaves the new owner in place.
func (x *AddressIndex) set(o Owner, ips []netip.Addr) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.version++
	k := o.key()
	for _, ip := range x.held[k] {
		if x.owners[ip] == o {
			delete(x.owners, ip)
		}
	}
	delete(x.held, k)
	var kept []netip.Addr
	for _, ip := range ips {
		if _, ok := x.owners[ip]; !ok && len(x.owners) >= x.max {
			x.dropped++
			continue
		}
		x.owners[ip] = o
		kept = append(kept, ip)
	}
	if len(kept) == 0 {
		return
	}
	if len(x.held) >= x.max { // owners that lost their addresses to others
		x.dropped += uint64(len(kept))
		for _, ip := range kept {
			delete(x.owners, ip)
		}
		return
	}
	x.held[k] = kept
}

// podAddresses are a pod's own IPs: none on the host network, where they
// are the node's.
func podAddresses(p *corev1.Pod) []netip.Addr {
	if p.Spec.HostNetwork {
		return nil
	}
	var ips []netip.Addr
	for _, pip := range p.Status.PodIPs {
		if ip, err := netip.ParseAddr(pip.IP); err == nil {
			ips = append(ips, ip.Unmap())
		}
	}
	return ips
}

// serviceAddresses are a Service's ClusterIPs (none when headless).
func serviceAddresses(s *corev1.Service) []netip.Addr {
	var ips []netip.Addr
	for _, c := range s.Spec.ClusterIPs {
		if ip, err := netip.ParseAddr(c); err == nil {
			ips = append(ips, ip.Unmap())
		}
	}
	return ips
}

// AddressWatcher fills an AddressIndex from informers on every pod and
// Service of a cluster, trimmed as the agent's are.
type AddressWatcher struct {
	*AddressIndex
	informers []cache.SharedIndexInformer
	synced    []cache.InformerSynced
	stop      context.CancelFunc
	wg        sync.WaitGroup
}

// NewAddressWatcher watches the cluster cfg reaches, once started, and
// logs its API server's outages to log.
func NewAddressWatcher(cfg *rest.Config, max int, log *slog.Logger) (*AddressWatcher, error) {
	cfg = agentConfig(cfg, 30*time.Second)
	cfg.UserAgent = "orb8-hub"
	cr, err := RESTClient(cfg, corev1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	g, err := newAPIGate(cfg, log)
	if err != nil {
		return nil, err
	}
	w := &AddressWatcher{AddressIndex: NewAddressIndex(max)}
	all := func(*metav1.ListOptions) {}
	handlers := map[cache.SharedIndexInformer]func(obj any, deleted bool){
		newInformer(cr, g, "pods", &corev1.Pod{}, all): func(obj any, deleted bool) {
			if p, ok := obj.(*corev1.Pod); ok {
				w.set(Owner{KindPod, p.Namespace, p.Name}, unlessDeleted(podAddresses(p), deleted))
			}
		},
		newInformer(cr, g, "services", &corev1.Service{}, all): func(obj any, deleted bool) {
			if s, ok := obj.(*corev1.Service); ok {
				w.set(Owner{KindService, s.Namespace, s.Name}, unlessDeleted(serviceAddresses(s), deleted))
			}
		},
	}
	for inf, h := range handlers {
		reg, err := inf.AddEventHandler(eventHandler(h))
		if err != nil {
			return nil, err
		}
		w.informers = append(w.informers, inf)
		w.synced = append(w.synced, reg.HasSynced)
	}
	return w, nil
}

func unlessDeleted(ips []netip.Addr, deleted bool) []netip.Addr {
	if deleted {
		return nil
	}
	return ips
}

// Start runs the informers until Close; it does not wait for them.
func (w *AddressWatcher) Start(ctx context.Context) {
	ctx, w.stop = context.WithCancel(ctx)
	runInformers(ctx, &w.wg, slices.Values(w.informers))
}

// Synced says whether the first lists of pods and Services reached the index.
func (w *AddressWatcher) Synced() bool {
	for _, s := range w.synced {
		if !s() {
			return false
		}
	}
	return true
}

// Close stops the informers.
func (w *AddressWatcher) Close() {
	if w.stop != nil {
		w.stop()
	}
	w.wg.Wait()
}
