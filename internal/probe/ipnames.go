package probe

import "net/netip"

// Kinds of object an IPNamer names.
const (
	KindPod     = "pod"     // a pod of this node, or one behind a Service
	KindService = "service" // a Service ClusterIP
)

// IPNamer names the Kubernetes object that owns an IP address: kind
// KindPod or KindService, and "" when unknown. Env.IPNames is nil when the
// agent runs without the Kubernetes API.
type IPNamer interface {
	NameIP(ip netip.Addr) (kind, namespace, name string)
}
