// Package api serves the agent's gRPC API (api/orb8/v1) and the same answers
// as JSON under /api/v1/ on the metrics listener. It reads what the agent
// already has: probe status, its Prometheus registry (so figures never need a
// second collector), the event bus, and whatever flow, DNS and label sources
// are plugged in through the small interfaces below.
package api

import (
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
)

// Backend is what the agent lends the API. A nil source means that data is
// not collected on this agent; the API then answers with nothing, not an error.
type Backend struct {
	Node       string
	CgroupRoot string // the workload hierarchy's mount, to list a workload's processes
	// CgroupHierarchy names that hierarchy: "unified" or "v1-memory".
	CgroupHierarchy string
	// MaxOverhead is the agent's budget, a share of the node's CPU.
	MaxOverhead float64
	Probes      func() []ProbeState
	Metrics     prometheus.Gatherer // the agent's registry
	Events      *events.Bus
	Flows       FlowSource
	DNS         DNSSource
	Requests    RequestSource
	Labels      LabelSource
	// Syscalls streams a workload's syscalls on demand (the syscalls probe);
	// Cgroups lists the ids of the existing cgroups a filter matches;
	// Workload is the identity of the cgroup at a path (ids, container, pod
	// UID, runtime), which series do not carry as labels.
	Syscalls SyscallStreamer
	Cgroups  func(match func(*cgroup.Workload) bool) []uint64
	Workload func(path string) (cgroup.Workload, bool)
	// Profiles: with --anomaly-detection.
	Profiles ProfileSource
	// Trail is the audit trail of execs, connections, policy matches and
	// anomalies (AuditTrail).
	Trail TrailSource
}

// SyscallStreamer starts the kernel-filtered syscall stream of some cgroups
// (every syscall when names is empty); stop ends it.
type SyscallStreamer interface {
	Stream(cgroupIDs []uint64, names []string) (stop func(), err error)
}

// ProbeState is one probe's health as the agent knows it; counters of what
// it read and lost come from Metrics.
type ProbeState struct {
	Name     string
	Up       bool
	Error    string
	Degraded map[string]string
}

// FlowSource is a snapshot of the flows the network probe tracks (bounded by
// its own table), which the agent adapts. The API filters, sorts and limits.
type FlowSource interface {
	Flows() []Flow
}

// Flow is one TCP connection or UDP peer pair of a workload.
type Flow struct {
	Workload       cgroup.Workload
	Process        events.Process // zero when unknown
	Protocol       string         // "tcp" or "udp"
	Direction      string         // "outbound" or "inbound"
	Local          netip.AddrPort
	Remote         netip.AddrPort
	events.Traffic // Retransmits and RTT: TCP only
	LastSeen       time.Time
	// RemotePeer owns Remote. Backend is where the connection really went
	// when Remote was translated (a Service IP's chosen endpoint), owned by
	// BackendPeer; invalid when Remote was not translated or is not known to be.
	RemotePeer  Peer
	Backend     netip.AddrPort
	BackendPeer Peer
}

// Peer is the Kubernetes object that owns an address: Kind "pod" or
// "service"; zero when unknown.
type Peer struct{ Kind, Namespace, Name string }

// DNSSource is the recent DNS lookups, a bounded ring (DNSLog, fed by the
// DNS probe's events). The API filters, sorts newest first and limits.
type DNSSource interface {
	DNSQueries() []DNSQuery
}

// DNSQuery is one DNS question and, once answered, its answer.
type DNSQuery struct {
	Time     time.Time
	Workload cgroup.Workload
	Process  events.Process
	Name     string
	QType    string        // "A", "AAAA", ...
	RCode    string        // "NOERROR", "NXDOMAIN", ...; empty while unanswered
	Latency  time.Duration // zero while unanswered
	Server   string        // resolver address
}

// LabelSource is implemented by the Kubernetes enrichment: the labels of a
// pod, for label selectors. Without it a selector with requirements matches
// nothing.
type LabelSource interface {
	PodLabels(namespace, pod string) map[string]string
}
