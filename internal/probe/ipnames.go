package probe

import "net/netip"

// IPNamer names the Kubernetes object that owns an IP address: kind "pod"
// (a pod of this node, or one behind a Service) or "service" (a ClusterIP),
// and "" when unknown. Env.IPNames is nil when the agent runs without the
// Kubernetes API.
type IPNamer interface {
	NameIP(ip netip.Addr) (kind, namespace, name string)
}
