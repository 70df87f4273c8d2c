package kube

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/orb8/orb8/internal/policy"
	"github.com/orb8/orb8/internal/tick"
)

// The policy resources, as the chart's CRDs define them.
var policyResources = map[string]schema.GroupVersionResource{
	policy.KindCluster:    {Group: "orb8.dev", Version: "v1alpha1", Resource: "clustersecuritypolicies"},
	policy.KindNamespaced: {Group: "orb8.dev", Version: "v1alpha1", Resource: "securitypolicies"},
}

// PolicyWatcher hands the agent the security policies of the Kubernetes API
// as they change, and writes into each policy's status whether this node
// enforces it (PolicyStatus).
type PolicyWatcher struct {
	log       *slog.Logger
	node      string
	client    dynamic.Interface
	informers map[string]cache.SharedIndexInformer // by kind
	changed   chan struct{}                        // a policy was added, changed or deleted

	mu sync.Mutex
	// objects are the policies of the last hand-over, by policyKey.
	objects map[string]policyObject
	// listErrs is why a kind's objects could not be listed, until they are.
	listErrs map[string]error
	gate     *apiGate // holds lists the API server refuses: Refusal says why
	status   *statusWriter
}

// policyObject is what the status of one policy object is worked out from.
type policyObject struct {
	kind, namespace, name string
	generation            int64
	err                   error // why the agent refused it
}

func (o policyObject) key() string { return o.kind + " " + o.namespace + "/" + o.name }

// NewPolicyWatcher builds a watcher of the policies of the API server cfg
// points at, writing the status of node; nothing runs before Run.
func NewPolicyWatcher(cfg *rest.Config, node string, log *slog.Logger) (*PolicyWatcher, error) {
	cfg = agentConfig(cfg, 30*time.Second)
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	g, err := newAPIGate(cfg, log)
	if err != nil {
		return nil, err
	}
	w := &PolicyWatcher{
		log: log, node: node, client: client,
		informers: map[string]cache.SharedIndexInformer{},
		changed:   make(chan struct{}, 1),
		objects:   map[string]policyObject{},
		listErrs:  map[string]error{},
		gate:      g,
	}
	w.status = newStatusWriter(client, node, log)
	for kind, gvr := range policyResources {
		inf := newDynamicInformer(client.Resource(gvr), g)
		if _, err := inf.AddEventHandler(eventHandler(func(any, bool) { w.signal() })); err != nil {
			return nil, err
		}
		// Without the CRDs every list fails: say so in orb8 status
		// rather than only in client-go's log.
		_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			cache.DefaultWatchErrorHandler(ctx, r, err)
			w.mu.Lock()
			w.listErrs[kind] = err
			w.mu.Unlock()
			w.signal()
		})
		w.informers[kind] = inf
	}
	return w, nil
}

func newDynamicInformer(r dynamic.NamespaceableResourceInterface, g *apiGate) cache.SharedIndexInformer {
	inf := cache.NewSharedIndexInformer(heldListWatch(g, r.List, r.Watch), &unstructured.Unstructured{}, 0, cache.Indexers{})
	_ = inf.SetTransform(func(obj any) (any, error) { // only fails once the informer runs
		if u, ok := obj.(*unstructured.Unstructured); ok {
			u.SetManagedFields(nil)
		}
		return obj, nil
	})
	return inf
}

func (w *PolicyWatcher) signal() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// recheckEvery is how often the watcher looks again without a change: a
// kind whose list failed and now succeeds, with no object, sends no event.
const recheckEvery = 5 * time.Second

// Run watches the policies until ctx ends. onChange gets every valid policy
// (sorted by kind, namespace and name) and, by "Kind namespace/name", why
// each invalid one is skipped, at the start and after every change; under
// "kubernetes Kind" it gets why a kind cannot be listed. It runs on Run's
// goroutine.
func (w *PolicyWatcher) Run(ctx context.Context, onChange func(policies []policy.Policy, bad map[string]error)) {
	for _, inf := range w.informers {
		go inf.RunWithContext(ctx)
	}
	go w.status.run(ctx)
	stop := tick.Every(ctx, recheckEvery, func(time.Time) { w.signal() })
	defer stop()
	var last string
	for {
		policies, bad := w.read()
		// Hand over only what changed: an informer's resync or a status
		// write (this agent's own) changes no policy.
		if sum := summary(policies, bad); sum != last {
			last = sum
			onChange(policies, bad)
		}
		select {
		case <-ctx.Done():
			return
		case <-w.changed:
		}
	}
}

// read parses every policy object of the informers' stores.
func (w *PolicyWatcher) read() ([]policy.Policy, map[string]error) {
	var policies []policy.Policy
	bad := map[string]error{}
	objects := map[string]policyObject{}
	w.mu.Lock()
	defer w.mu.Unlock()
	for kind, inf := range w.informers {
		if err := cmp.Or(w.listErrs[kind], w.gate.Refusal()); err != nil {
			if !inf.HasSynced() {
				bad["kubernetes "+kind] = fmt.Errorf("cannot list %s (are the chart's CRDs installed?): %w", policyResources[kind].Resource, err)
				continue
			}
			delete(w.listErrs, kind)
		}
		for _, item := range inf.GetStore().List() {
			u, ok := item.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			o := policyObject{kind: kind, namespace: u.GetNamespace(), name: u.GetName(), generation: u.GetGeneration()}
			p, err := parseObject(u)
			if err != nil {
				o.err = err
				bad[o.kind+" "+policy.Policy{Kind: kind, Namespace: o.namespace, Name: o.name}.Ref()] = err
			} else {
				policies = append(policies, p)
			}
			objects[o.key()] = o
		}
	}
	w.objects = objects
	slices.SortFunc(policies, func(a, b policy.Policy) int {
		return strings.Compare(a.Kind+" "+a.Ref(), b.Kind+" "+b.Ref())
	})
	return policies, bad
}

// parseObject validates an object as a policy file's document is.
func parseObject(u *unstructured.Unstructured) (policy.Policy, error) {
	js, err := json.Marshal(u.Object)
	if err != nil {
		return policy.Policy{}, err
	}
	return policy.ParseObject(js, "kubernetes")
}

// summary is what a hand-over says, to compare with the last.
func summary(policies []policy.Policy, bad map[string]error) string {
	js, _ := json.Marshal(policies)
	keys := make([]string, 0, len(bad))
	for k, err := range bad {
		keys = append(keys, k+": "+err.Error())
	}
	slices.Sort(keys)
	b, _ := json.Marshal(keys)
	return string(js) + string(b)
}

// Applied reports the outcome of enforcing the policies of the last
// hand-over on this node (nil: in force; else why none is): each policy's
// status gets this node's entry, written in the background.
func (w *PolicyWatcher) Applied(applyErr error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wanted := make([]wantedStatus, 0, len(w.objects))
	for _, o := range w.objects {
		e := nodeEntry{Name: w.node, Loaded: true, ObservedGeneration: o.generation}
		switch {
		case o.err != nil:
			e.Loaded, e.Message = false, o.err.Error()
		case applyErr != nil:
			e.Loaded, e.Message = false, applyErr.Error()
		}
		wanted = append(wanted, wantedStatus{o, e})
	}
	w.status.want(wanted)
}
