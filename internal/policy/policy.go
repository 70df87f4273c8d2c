// Package policy defines orb8's security policies: the ClusterSecurityPolicy
// and SecurityPolicy resources (orb8.dev/v1alpha1), their parsing from YAML
// files or Kubernetes objects, their validation, which workloads a policy
// selects, and the watcher of a --policy-dir directory.
//
// The package is pure Go: it knows nothing of probes or the agent. The
// enforcement side reads the validated Policy values it produces.
package policy

import "net/netip"

// APIVersion, KindCluster and KindNamespaced identify policy resources.
const (
	APIVersion     = "orb8.dev/v1alpha1"
	KindCluster    = "ClusterSecurityPolicy"
	KindNamespaced = "SecurityPolicy"
)

// Mode says whether a policy acts or only reports what it would do.
type Mode string

// The modes. A policy without spec.mode enforces.
const (
	ModeEnforce Mode = "enforce"
	ModeMonitor Mode = "monitor"
)

// Action is what a matching rule does.
type Action string

// The actions: kill (exec rules) sends SIGKILL before the new image runs,
// deny (connect rules) fails the call with EPERM, audit (any rule) records
// the match and changes nothing.
const (
	ActionKill  Action = "kill"
	ActionDeny  Action = "deny"
	ActionAudit Action = "audit"
)

// Limits the kernel side relies on.
const (
	MaxExecPaths      = 64  // paths in one exec rule
	MaxExecPathLen    = 255 // bytes in one exec path
	MaxArgsContain    = 8   // strings in one exec rule's argsContain
	MaxArgsContainLen = 64  // bytes in one of them
)

// Policy is one validated policy resource.
type Policy struct {
	Kind      string // KindCluster or KindNamespaced
	Name      string // metadata.name
	Namespace string // metadata.namespace: set only for KindNamespaced
	// Generation is metadata.generation of a Kubernetes object (0 in files).
	Generation int64
	Mode       Mode
	Selector   Selector
	Rules      []Rule
	Source     string // where it came from: a file path, or "kubernetes"
}

// Selector chooses the workloads (cgroups) a policy applies to; see
// Policy.Selects for the semantics.
type Selector struct {
	// Namespaces lists Kubernetes namespaces (ClusterSecurityPolicy only).
	Namespaces []string `json:"namespaces,omitempty"`
	// PodSelector matches pod labels as Kubernetes does; an empty one
	// ({}) selects every pod.
	PodSelector *LabelSelector `json:"podSelector,omitempty"`
	// Containers lists container names as in the pod spec.
	Containers []string `json:"containers,omitempty"`
	// Cgroups lists cgroup v2 path prefixes, each a clean absolute path.
	// A prefix matches the path itself and every path below it at a "/"
	// boundary: "/a/b" matches "/a/b" and "/a/b/c", not "/a/bc".
	Cgroups []string `json:"cgroups,omitempty"`
}

// LabelSelector is a Kubernetes label selector: all of MatchLabels and all
// of MatchExpressions must hold.
type LabelSelector struct {
	MatchLabels      map[string]string  `json:"matchLabels,omitempty"`
	MatchExpressions []LabelRequirement `json:"matchExpressions,omitempty"`
}

// LabelRequirement is one Kubernetes match expression. Operator is In,
// NotIn, Exists or DoesNotExist; Values is non-empty for In and NotIn and
// empty for the others. NotIn holds when the label is absent.
type LabelRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// The label selector operators.
const (
	OpIn           = "In"
	OpNotIn        = "NotIn"
	OpExists       = "Exists"
	OpDoesNotExist = "DoesNotExist"
)

// Rule is one match and its action. Exactly one of Exec, Connect and DNS
// is set.
type Rule struct {
	Exec    *ExecRule
	Connect *ConnectRule
	DNS     *DNSRule
	Action  Action
}

// ExecRule matches an execve of one of Paths, as given to execve or as
// resolved (clean absolute paths, at most MaxExecPaths of at most
// MaxExecPathLen bytes).
type ExecRule struct {
	Paths []string `json:"paths"`
	// ArgsContain, when not empty, narrows the rule to an exec one of whose
	// arguments argv[1] to argv[15] (within the first 1 KiB of argv)
	// contains one of these strings (at most MaxArgsContain, each 1 to
	// MaxArgsContainLen bytes without NUL).
	ArgsContain []string `json:"argsContain,omitempty"`
}

// ConnectRule matches a connect or sendmsg to an address in one of CIDRs
// (masked: no host bits set), on one of Ports (empty: any port), over one
// of Protocols ("tcp", "udp"; empty: both).
type ConnectRule struct {
	CIDRs     []netip.Prefix
	Ports     []uint16
	Protocols []string
}

// DNSRule matches DNS queries for one of Names: an exact name, or
// "*.suffix" for names below suffix. Names are lower-case without a
// trailing dot.
type DNSRule struct {
	Names []string `json:"names"`
}

// Target is what a selector is matched against: one workload (cgroup).
// Namespace is empty for a workload that is not a Kubernetes pod.
type Target struct {
	Cgroup    string // cgroup v2 path, e.g. "/system.slice/foo.service"
	Namespace string
	Pod       string
	Container string
	PodLabels map[string]string
}

// key identifies a policy among others: Kubernetes allows a cluster policy
// and namespaced ones of the same name.
func (p Policy) key() string { return p.Kind + " " + p.Ref() }

// Ref names the policy where it is reported (metrics, audit, events): its
// name, and for a SecurityPolicy its namespace as in "namespace/name".
func (p Policy) Ref() string {
	if p.Kind == KindNamespaced {
		return p.Namespace + "/" + p.Name
	}
	return p.Name
}
