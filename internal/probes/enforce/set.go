package enforce

import (
	"fmt"
	"net/netip"
)

// Set is what the probe enforces: policies, and for each cgroup that some
// policy selects, the indexes (into Policies) of those that do.
type Set struct {
	Policies []Policy
	Cgroups  map[uint64][]int
}

// Policy is one policy's rules as the kernel checks them.
type Policy struct {
	Name    string
	Enforce bool // else monitor: matches are reported, nothing is refused
	Exec    []ExecRule
	Connect []ConnectRule
}

// ExecRule matches an exec by the path as given to execve or resolved.
type ExecRule struct {
	Rule  int // index in the policy's rules, for the audit trail
	Paths []string
	Kill  bool // else audit
}

// ConnectRule matches a connect (TCP, UDP) or a UDP send by destination.
type ConnectRule struct {
	Rule     int
	CIDRs    []netip.Prefix
	Ports    []uint16 // none: any
	TCP, UDP bool
	Deny     bool // else audit
}

// MaxPathLen is the longest path an exec rule can match: what the kernel
// copies of a path.
const MaxPathLen = 255

// Validate checks what the kernel tables cannot hold.
func (s Set) Validate() error {
	for _, p := range s.Policies {
		for _, r := range p.Exec {
			for _, path := range r.Paths {
				if len(path) == 0 || len(path) > MaxPathLen {
					return fmt.Errorf("policy %s, rule %d: path %q: want 1 to %d bytes", p.Name, r.Rule, path, MaxPathLen)
				}
			}
		}
		for _, r := range p.Connect {
			if !r.TCP && !r.UDP {
				return fmt.Errorf("policy %s, rule %d: neither tcp nor udp", p.Name, r.Rule)
			}
			for _, c := range r.CIDRs {
				if !c.IsValid() {
					return fmt.Errorf("policy %s, rule %d: invalid prefix %v", p.Name, r.Rule, c)
				}
			}
		}
	}
	for cg, idx := range s.Cgroups {
		for _, i := range idx {
			if i < 0 || i >= len(s.Policies) {
				return fmt.Errorf("cgroup %d: policy index %d out of range", cg, i)
			}
		}
	}
	return nil
}
