package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/orb8/orb8/internal/access"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/kube"
)

// kubeSyncTimeout bounds how long Start waits for the first lists of the
// Kubernetes API; past it probes start anyway and names fill in later.
const kubeSyncTimeout = 15 * time.Second

// newKube connects to the Kubernetes API when --kubeconfig is set or the agent
// runs in a pod: informers to name workloads, and a reviewer of API callers.
// Both are nil on a plain host.
func newKube(cfg config.Config, log *slog.Logger) (*kube.Watcher, *kube.Reviewer, error) {
	rc, err := kube.RESTConfig(cfg.Kubeconfig)
	if err != nil || rc == nil {
		return nil, nil, err
	}
	filter, err := kube.NewFilter(cfg.IncludeNamespaces, cfg.ExcludeNamespaces, cfg.PodSelector, cfg.NamespaceSelector)
	if err != nil {
		return nil, nil, err
	}
	w, err := kube.New(rc, kube.Options{NodeName: cfg.NodeName, Filter: filter, Grace: cfg.GoneGrace, SyncTimeout: kubeSyncTimeout}, log)
	if err != nil {
		return nil, nil, err
	}
	r, err := kube.NewReviewer(rc)
	return w, r, err
}

// useKube makes the watcher name the resolver's workloads and export the
// node and the resources and owners of its pods' containers, and the
// reviewer decide what API callers may see.
func (a *Agent) useKube(w *kube.Watcher, r *kube.Reviewer) {
	if w == nil {
		return
	}
	a.kube = w
	a.resolver.SetEnricher(w)
	a.shaper.UseOwners(w.Index)
	a.register(w)
	a.register(kube.NewContainerResources(w.Index, a.resolver))
	if r != nil {
		a.decider = access.NewDecider(r, a.cfg.NodeName)
	}
}

func (a *Agent) startKube(ctx context.Context) {
	if a.kube != nil {
		a.kube.Start(ctx)
	}
}

// ipNames is what flows' peers are named with; nil when standalone.
func (a *Agent) ipNames() ipNamer {
	if a.kube == nil {
		return nil
	}
	return a.kube
}

func (a *Agent) closeKube() error {
	if a.kube == nil {
		return nil
	}
	return a.kube.Close()
}
