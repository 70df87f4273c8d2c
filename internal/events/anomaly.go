package events

// Anomaly is what an anomaly event adds: an item a workload showed for the
// first time after its behaviour profile was learned (internal/anomaly).
type Anomaly struct {
	// Kind is new_binary, new_lineage, new_peer, new_dns_domain,
	// new_listen_port or rate.
	Kind string `json:"kind"`
	// Item is what was new, as the profile keeps it: a path, a
	// "parent -> child" pair of paths, a peer, a registered domain or a
	// "tcp/PORT"; for a rate anomaly the feature (exec_rate, ...).
	Item string `json:"item"`
	// Profile is the identity of the workload's profile: namespace, owner
	// kind and name, and container in Kubernetes, else the cgroup path.
	Profile string `json:"profile"`
	// Value, Baseline and Threshold are a rate anomaly's: the feature's
	// value in the minute that opened the episode, its learned mean, and
	// the value above which a minute is high.
	Value     float64 `json:"value,omitempty"`
	Baseline  float64 `json:"baseline,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
}
