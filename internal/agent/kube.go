package agent

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/orb8/orb8/internal/access"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/kube"
)

// kubeSyncTimeout bounds how long Start waits for the first lists of the
// Kubernetes API; past it probes start anyway and names fill in later.
const kubeSyncTimeout = 15 * time.Second

// kubeParts are the agent's connections to the Kubernetes API.
type kubeParts struct {
	watcher  *kube.Watcher  // informers naming workloads
	reviewer *kube.Reviewer // of API callers
	// With --kube-policies: the policies, and Events on the pods they act on.
	policies  *kube.PolicyWatcher
	podEvents *kube.PodEventRecorder
}

// newKube connects to the Kubernetes API when --kubeconfig is set or the
// agent runs in a pod; nil on a plain host.
func newKube(cfg config.Config, log *slog.Logger) (*kubeParts, error) {
	rc, err := kube.RESTConfig(cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	if rc == nil {
		if cfg.KubePolicies {
			return nil, errors.New("--kube-policies needs the Kubernetes API: set --kubeconfig, or run the agent in a pod")
		}
		return nil, nil
	}
	filter, err := kube.NewFilter(cfg.IncludeNamespaces, cfg.ExcludeNamespaces, cfg.PodSelector, cfg.NamespaceSelector)
	if err != nil {
		return nil, err
	}
	k := &kubeParts{}
	if k.watcher, err = kube.New(rc, kube.Options{NodeName: cfg.NodeName, Filter: filter, Grace: cfg.GoneGrace, SyncTimeout: kubeSyncTimeout}, log); err != nil {
		return nil, err
	}
	if k.reviewer, err = kube.NewReviewer(rc); err != nil {
		return nil, err
	}
	if cfg.KubePolicies {
		if k.policies, err = kube.NewPolicyWatcher(rc, cfg.NodeName, log); err != nil {
			return nil, err
		}
		if k.podEvents, err = kube.NewPodEventRecorder(rc, k.watcher, log); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// useKube makes the watcher name the resolver's workloads and export the
// node and the resources and owners of its pods' containers, and the
// reviewer decide what API callers may see.
func (a *Agent) useKube(k *kubeParts) {
	if k == nil {
		return
	}
	a.kube = k.watcher
	a.kubePolicies, a.podEvents = k.policies, k.podEvents
	a.resolver.SetEnricher(k.watcher)
	a.shaper.UseOwners(k.watcher.Index)
	a.register(k.watcher)
	a.register(kube.NewContainerResources(k.watcher.Index, a.resolver))
	a.decider = access.NewDecider(k.reviewer, a.cfg.NodeName)
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
