package enforce

import (
	"fmt"
	"net/netip"
	"strings"
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

// ExecRule matches an exec by the path as given to execve or resolved and,
// if ArgsContain is set, by its arguments: one of the strings must occur
// in one of argv[1] to argv[MaxSearchedArgs-1], within the first
// MaxSearchedArgsLen bytes of argv.
type ExecRule struct {
	Rule        int // index in the policy's rules, for the audit trail
	Paths       []string
	ArgsContain []string
	Kill        bool // else audit
}

// ConnectRule matches a connect (TCP, UDP) or a UDP send by destination.
type ConnectRule struct {
	Rule     int
	CIDRs    []netip.Prefix
	Ports    []uint16 // none: any
	TCP, UDP bool
	Deny     bool // else audit
}

// What the kernel can match.
const (
	MaxPathLen = 255 // bytes of a path: what the kernel copies of one
	// MaxArgsContain strings of MaxArgsContainLen bytes at most per rule;
	// MaxArgsContainPerPath strings per path among all the rules of the
	// policies selecting one workload.
	MaxArgsContain        = 8
	MaxArgsContainLen     = 64
	MaxArgsContainPerPath = 64
	// MaxSearchedArgs arguments, argv[0] among them, within
	// MaxSearchedArgsLen bytes of argv, are searched: what an audit record
	// shows.
	MaxSearchedArgs    = 16
	MaxSearchedArgsLen = 1024
)

// Validate checks what the kernel tables cannot hold.
func (s Set) Validate() error {
	for _, p := range s.Policies {
		for _, r := range p.Exec {
			for _, path := range r.Paths {
				if len(path) == 0 || len(path) > MaxPathLen {
					return fmt.Errorf("policy %s, rule %d: path %q: want 1 to %d bytes", p.Name, r.Rule, path, MaxPathLen)
				}
			}
			if len(r.ArgsContain) > MaxArgsContain {
				return fmt.Errorf("policy %s, rule %d: %d argsContain strings, want at most %d", p.Name, r.Rule, len(r.ArgsContain), MaxArgsContain)
			}
			for _, a := range r.ArgsContain {
				if len(a) == 0 || len(a) > MaxArgsContainLen || strings.IndexByte(a, 0) >= 0 {
					return fmt.Errorf("policy %s, rule %d: argsContain %q: want 1 to %d bytes without NUL", p.Name, r.Rule, a, MaxArgsContainLen)
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
