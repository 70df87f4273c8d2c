// Package kube connects the agent to the Kubernetes API: informers on this
// node's pods, namespaces, the node, Services, EndpointSlices, and the
// ReplicaSets and Jobs that own pods feed an Index that names cgroups
// (cgroup.Enricher), their workloads and IP addresses, applies the agent's
// filters, and exports the node's and the containers' resources.
//
// The API server is not needed to keep collecting: informers keep their last
// state while it is away and resume (relist or rewatch) as soon as it serves
// again (apiGate).
package kube

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/orb8/orb8/internal/tick"
)

// Options configure a Watcher.
type Options struct {
	Kubeconfig string // empty: in-cluster config
	NodeName   string
	Filter     Filter
	// Grace is how long a deleted pod keeps naming its cgroups, like the
	// agent's --gone-grace for series of removed cgroups.
	Grace time.Duration
	// SyncTimeout bounds how long Start waits for the first lists.
	SyncTimeout time.Duration
}

// Watcher runs the informers and owns the Index they fill.
type Watcher struct {
	*Index
	log       *slog.Logger
	node      string
	grace     time.Duration
	timeout   time.Duration
	informers map[string]cache.SharedIndexInformer
	gate      *apiGate
	nodes     cache.Store
	// synced says each informer's first list reached the Index: the
	// handlers' registrations, whose sync waits for the handler to have
	// seen every listed object (an informer's own HasSynced only waits for
	// its store, and with thousands of pods the Index lagged behind it).
	synced []cache.InformerSynced

	stop      context.CancelFunc
	wg        sync.WaitGroup
	stopSweep func() // ends the sweep of deleted pods; nil before Start
}

// RESTConfig loads the API server's address and credentials from a
// kubeconfig file, or in a pod from its service account. It returns nil,
// nil when neither is available: the agent then runs standalone.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := rest.InClusterConfig()
	if errors.Is(err, rest.ErrNotInCluster) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("in-cluster config: %w", err)
	}
	return cfg, nil
}

// New builds a watcher for the API server cfg points at; nothing runs
// before Start.
func New(cfg *rest.Config, opts Options, log *slog.Logger) (*Watcher, error) {
	cfg = agentConfig(cfg, 30*time.Second)
	cr, err := RESTClient(cfg, corev1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	dr, err := RESTClient(cfg, discoveryv1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	// Owners are read as metadata only: no apps/v1 or batch/v1 types in
	// the binary, and only names and owner references on the wire.
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	g, err := newAPIGate(cfg, log)
	if err != nil {
		return nil, err
	}
	// client-go logs through klog: route it into the agent's log.
	klog.SetSlogLogger(log.With("component", "client-go"))
	w := &Watcher{
		Index:   NewIndex(opts.Filter),
		log:     log,
		node:    opts.NodeName,
		grace:   opts.Grace,
		timeout: opts.SyncTimeout,
		gate:    g,
	}
	onNode := func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", opts.NodeName).String()
	}
	onName := func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", opts.NodeName).String()
	}
	all := func(*metav1.ListOptions) {}
	w.informers = map[string]cache.SharedIndexInformer{
		"pods":           newInformer(cr, g, "pods", &corev1.Pod{}, onNode),
		"namespaces":     newInformer(cr, g, "namespaces", &corev1.Namespace{}, all),
		"nodes":          newInformer(cr, g, "nodes", &corev1.Node{}, onName),
		"services":       newInformer(cr, g, "services", &corev1.Service{}, all),
		"endpointslices": newInformer(dr, g, "endpointslices", &discoveryv1.EndpointSlice{}, all),
		// Owners of pods, for the workload series (Deployment, CronJob).
		"replicasets": newMetadataInformer(mc, g, schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}),
		"jobs":        newMetadataInformer(mc, g, schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}),
	}
	w.nodes = w.informers["nodes"].GetStore()
	handlers := map[string]func(obj any, deleted bool){
		"pods": func(obj any, deleted bool) {
			if p, ok := obj.(*corev1.Pod); ok {
				if deleted {
					w.deletePod(p, time.Now())
				} else {
					w.setPod(p)
				}
			}
		},
		"namespaces": func(obj any, deleted bool) {
			if ns, ok := obj.(*corev1.Namespace); ok {
				w.setNamespace(ns, deleted)
			}
		},
		"services": func(obj any, deleted bool) {
			if s, ok := obj.(*corev1.Service); ok {
				w.setService(s, deleted)
			}
		},
		"endpointslices": func(obj any, deleted bool) {
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok {
				w.setSlice(s.Namespace+"/"+s.Name, s, deleted)
			}
		},
		"replicasets": func(obj any, deleted bool) {
			if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
				w.setController(ownerKindReplicaSet, &m.ObjectMeta, deleted)
			}
		},
		"jobs": func(obj any, deleted bool) {
			if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
				w.setController(ownerKindJob, &m.ObjectMeta, deleted)
			}
		},
	}
	w.synced = []cache.InformerSynced{w.informers["nodes"].HasSynced} // read from its store
	for name, h := range handlers {
		reg, err := w.informers[name].AddEventHandler(eventHandler(h))
		if err != nil {
			return nil, err
		}
		w.synced = append(w.synced, reg.HasSynced)
	}
	return w, nil
}

// Start runs the informers and waits up to the sync timeout for their first
// lists, so the first scrape already has names. An API server that does not
// answer delays nothing beyond that: the informers keep retrying.
func (w *Watcher) Start(ctx context.Context) {
	ctx, w.stop = context.WithCancel(ctx)
	runInformers(ctx, &w.wg, maps.Values(w.informers))
	w.stopSweep = tick.Every(ctx, max(w.grace/10, time.Second), func(now time.Time) { w.sweep(now.Add(-w.grace)) })
	waitCtx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	if cache.WaitForCacheSync(waitCtx.Done(), w.synced...) {
		w.log.Info("kubernetes informers synced", "node", w.node, "pods", w.Pods())
	} else {
		w.log.Warn("kubernetes API not synced yet; series carry cgroup labels until it is", "node", w.node, "waited", w.timeout)
	}
}

// Close stops the informers.
func (w *Watcher) Close() error {
	if w.stop != nil {
		w.stop()
	}
	if w.stopSweep != nil {
		w.stopSweep()
	}
	w.wg.Wait()
	return nil
}

// runInformers runs each informer in a goroutine of wg until ctx ends.
func runInformers(ctx context.Context, wg *sync.WaitGroup, informers iter.Seq[cache.SharedIndexInformer]) {
	for inf := range informers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inf.RunWithContext(ctx)
		}()
	}
}

func newInformer(c rest.Interface, g *apiGate, resource string, obj runtime.Object, tweak func(*metav1.ListOptions)) cache.SharedIndexInformer {
	lw := cache.NewFilteredListWatchFromClient(c, resource, "", tweak)
	inf := cache.NewSharedIndexInformer(heldListWatch(g, lw.ListWithContext, lw.WatchWithContext), obj, 0, cache.Indexers{})
	_ = inf.SetTransform(trim) // only fails once the informer runs
	return inf
}

// newMetadataInformer watches the metadata of every object of a resource.
func newMetadataInformer(c metadata.Interface, g *apiGate, gvr schema.GroupVersionResource) cache.SharedIndexInformer {
	r := c.Resource(gvr)
	inf := cache.NewSharedIndexInformer(heldListWatch(g, r.List, r.Watch), &metav1.PartialObjectMetadata{}, 0, cache.Indexers{})
	_ = inf.SetTransform(trim) // only fails once the informer runs
	return inf
}

// agentConfig is cfg as the agent's clients use it: named orb8-agent, each
// request bounded by timeout.
func agentConfig(cfg *rest.Config, timeout time.Duration) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "orb8-agent"
	cfg.Timeout = timeout
	return cfg
}

func eventHandler(h func(obj any, deleted bool)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { h(obj, false) },
		UpdateFunc: func(_, obj any) { h(obj, false) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			h(obj, true)
		},
	}
}
