// Package anomaly keeps behaviour profiles of workloads: the programs,
// program lineages, peers, DNS domains and listening ports each showed
// while it was learned. After its learning window a profile is frozen and
// each item it never showed is an anomaly, raised once. Profiles are keyed
// by an identity that stays across replicas and restarts, bounded, and
// persisted in a state file.
package anomaly

import (
	"strings"

	"github.com/orb8/orb8/internal/cgroup"
)

// Kind is a kind of anomaly, and the set of a profile it is checked against.
type Kind string

// The kinds of anomaly.
const (
	NewBinary     Kind = "new_binary"
	NewLineage    Kind = "new_lineage"
	NewPeer       Kind = "new_peer"
	NewDNSDomain  Kind = "new_dns_domain"
	NewListenPort Kind = "new_listen_port"
)

// Kinds lists every kind, in the order profiles show their sets.
var Kinds = []Kind{NewBinary, NewLineage, NewPeer, NewDNSDomain, NewListenPort}

// known reports whether k is one of Kinds.
func (k Kind) known() bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Identity is what a profile belongs to: in Kubernetes the namespace, the
// pod's owning controller (a ReplicaSet's Deployment, a Job's CronJob, or
// the pod itself when it has none) and the container, the same for every
// replica and restart; on a host the cgroup path.
type Identity struct {
	Namespace string `json:"namespace,omitempty"`
	OwnerKind string `json:"ownerKind,omitempty"`
	Owner     string `json:"owner,omitempty"`
	Container string `json:"container,omitempty"`
	Cgroup    string `json:"cgroup,omitempty"`
}

// String is the identity as commands name it: NAMESPACE/KIND/OWNER/CONTAINER
// (kind in lower case) in Kubernetes, the cgroup path (starting with "/")
// on a host.
func (i Identity) String() string {
	if i.Cgroup != "" {
		return i.Cgroup
	}
	return i.Namespace + "/" + strings.ToLower(i.OwnerKind) + "/" + i.Owner + "/" + i.Container
}

// valid reports whether i names a workload one way or the other.
func (i Identity) valid() bool {
	if i.Cgroup != "" {
		return strings.HasPrefix(i.Cgroup, "/") && i.Namespace == "" && i.OwnerKind == "" && i.Owner == "" && i.Container == ""
	}
	return i.Namespace != "" && i.OwnerKind != "" && i.Owner != ""
}

// Owners names the controller of a pod (kube.Index, as series.Owners):
// false while the pod is not known.
type Owners interface {
	Owner(namespace, pod string) (kind, name string, ok bool)
}

// IdentityOf is w's identity: false for a pod whose owner is not known yet
// (its events are not profiled until it is). Without Kubernetes (owners
// nil) every workload is named by its cgroup path.
func IdentityOf(w *cgroup.Workload, owners Owners) (Identity, bool) {
	if w.Pod == "" || owners == nil {
		return Identity{Cgroup: w.Path}, w.Path != ""
	}
	kind, name, ok := owners.Owner(w.Namespace, w.Pod)
	if !ok {
		return Identity{}, false
	}
	return Identity{Namespace: w.Namespace, OwnerKind: kind, Owner: name, Container: w.Container}, true
}
