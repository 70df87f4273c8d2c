// Package cgroup turns the cgroup v2 ids that kernel events carry into
// workload identities: cgroup path, container id, pod UID, and (filled in by
// the Kubernetes enricher) namespace, pod and container names.
package cgroup

// Workload is the identity of one cgroup.
type Workload struct {
	ID          uint64 `json:"cgroupId"`
	Path        string `json:"cgroup"` // relative to the cgroup2 mount, starts with "/"
	ContainerID string `json:"containerId,omitempty"`
	PodUID      string `json:"podUid,omitempty"`
	Runtime     string `json:"runtime,omitempty"`
	// Unit is the systemd unit (or Talos service) of a cgroup that is not a
	// container, e.g. "sshd.service".
	Unit      string `json:"unit,omitempty"`
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Container string `json:"container"`
	// Hidden marks a pod the agent's filters exclude (set by the Kubernetes
	// enricher): collectors emit no series and the event bus drops its events.
	// Probes that build series without probe.CollectPerCPU skip it themselves.
	Hidden bool `json:"-"`
}

// LabelNames are the labels every per-workload series carries, in the order
// LabelValues returns them.
var LabelNames = []string{"namespace", "pod", "container", "cgroup"}

// LabelValues returns the values for LabelNames.
func (w Workload) LabelValues() []string {
	return []string{w.Namespace, w.Pod, w.Container, w.Path}
}
