package events

// Anomaly is what an anomaly event adds: an item a workload showed for the
// first time after its behaviour profile was learned (internal/anomaly).
type Anomaly struct {
	// Kind is new_binary, new_lineage, new_peer, new_dns_domain or
	// new_listen_port.
	Kind string `json:"kind"`
	// Item is what was new, as the profile keeps it: a path, a
	// "parent -> child" pair of paths, a peer, a registered domain or a
	// "tcp/PORT".
	Item string `json:"item"`
	// Profile is the identity of the workload's profile: namespace, owner
	// kind and name, and container in Kubernetes, else the cgroup path.
	Profile string `json:"profile"`
}
