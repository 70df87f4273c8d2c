// Package enforce is the policy enforcement probe: exec and connect rules
// of security policies, checked in the kernel for the workloads the
// policies select (enforce.bpf.c), and an audit record for every match.
//
// The probe knows rules, not policies' selectors: the agent decides which
// cgroups each policy selects and hands the probe a Set. Programs are
// attached only while some rule needs them, so a node without policies
// pays nothing on exec or connect.
package enforce

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
)

// Name is the probe's name in configuration and metrics.
const Name = "enforce"

// EventKinds are the kinds of event the probe publishes.
var EventKinds = []string{events.KindPolicy}

// Programs: exec rules need the executable resolved (bpf_loop, 5.17);
// connect rules the cgroup sock_addr hooks. Each is attached only while a
// rule needs it.
var Programs = probe.Programs{
	Optional: map[string]string{
		enforceProgCheckExec:      "exec rules",
		enforceProgCheckConnectV4: "connect rules on IPv4",
		enforceProgCheckConnectV6: "connect rules on IPv6",
		enforceProgCheckSendmsgV4: "connect rules on unconnected UDP over IPv4",
		enforceProgCheckSendmsgV6: "connect rules on unconnected UDP over IPv6",
	},
}

var (
	execPrograms    = []string{enforceProgCheckExec}
	connectPrograms = []string{enforceProgCheckConnectV4, enforceProgCheckConnectV6, enforceProgCheckSendmsgV4, enforceProgCheckSendmsgV6}
)

var metrics series.Set

var matchesDesc = metrics.Workload("orb8_policy_matches_total",
	"Operations of the workload that a policy rule matched, by policy, action (kill, deny, audit) and mode (enforce: the action was taken; monitor: it was only reported).",
	"policy", "action", "mode")

var argsUncheckedDesc = metrics.Workload("orb8_policy_args_unchecked_total",
	"Execs of the workload whose path an argsContain rule of the policy lists, where no rule matched and argv went on past what is searched (16 arguments, 1 KiB): the rest was not searched.",
	"policy")

// Probe is the policy enforcement probe.
type Probe struct {
	objs *probe.Objects
	bpf  enforceObjects
	env  probe.Env

	mu      sync.Mutex
	tables  tables               // what the kernel holds now
	links   map[string]link.Link // attached programs, by name
	names   policyNames          // policy ids of verdicts, named
	matches map[matchKey]uint64  // counted from the audit records
	// unchecked counts execs whose argv was not all searched, by policy.
	unchecked map[matchKey]uint64
	// problems are what the agent could not enforce (bad policy files),
	// reported as the probe's degradation.
	problems map[string]error
}

// SetProblems reports what is not enforced, by what it is (a policy
// file): orb8 status shows the probe degraded by them; nil clears them.
func (p *Probe) SetProblems(problems map[string]error) {
	p.mu.Lock()
	p.problems = maps.Clone(problems)
	p.mu.Unlock()
}

// Degraded implements probe.Degrader.
func (p *Probe) Degraded() map[string]error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.problems)
}

// New returns an unstarted enforcement probe.
func New() *Probe {
	return &Probe{links: map[string]link.Link{}, matches: map[matchKey]uint64{}, unchecked: map[matchKey]uint64{}}
}

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe.
func (p *Probe) Objects() *probe.Objects { return p.objs }

// Start implements probe.Probe: loads the programs and the empty tables;
// nothing is attached until Apply gives rules.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	spec, err := loadEnforce()
	if err != nil {
		return err
	}
	objs, err := probe.Load(spec, &p.bpf, probe.LoadOptions{
		Programs: Programs,
		Manual:   append(append([]string{}, execPrograms...), connectPrograms...),
	})
	if err != nil {
		return err
	}
	p.objs, p.env = objs, env
	if err := objs.ReadRing(p.bpf.Audits, p.handle); err != nil {
		p.Close()
		return err
	}
	return nil
}

// attach attaches the named programs if want, detaches them if not.
func (p *Probe) attach(names []string, want bool) error {
	var errs []error
	for _, name := range names {
		l, on := p.links[name]
		switch {
		case want && !on:
			prog, at := p.program(name)
			if prog == nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, orNotLoaded(p.objs.Failed[name])))
				continue
			}
			var err error
			if at == ebpf.AttachNone {
				l, err = link.AttachTracing(link.TracingOptions{Program: prog})
			} else {
				l, err = link.AttachCgroup(link.CgroupOptions{Path: p.env.CgroupRoot, Attach: at, Program: prog})
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("attach %s: %w", name, err))
				continue
			}
			p.links[name] = l
		case !want && on:
			l.Close()
			delete(p.links, name)
		}
	}
	return errors.Join(errs...)
}

// program is a loaded program by name, and the cgroup hook it attaches to
// (AttachNone: a tracing program).
func (p *Probe) program(name string) (*ebpf.Program, ebpf.AttachType) {
	switch name {
	case enforceProgCheckExec:
		return p.bpf.CheckExec, ebpf.AttachNone
	case enforceProgCheckConnectV4:
		return p.bpf.CheckConnectV4, ebpf.AttachCGroupInet4Connect
	case enforceProgCheckConnectV6:
		return p.bpf.CheckConnectV6, ebpf.AttachCGroupInet6Connect
	case enforceProgCheckSendmsgV4:
		return p.bpf.CheckSendmsgV4, ebpf.AttachCGroupUDP4Sendmsg
	case enforceProgCheckSendmsgV6:
		return p.bpf.CheckSendmsgV6, ebpf.AttachCGroupUDP6Sendmsg
	}
	return nil, ebpf.AttachNone
}

func orNotLoaded(err error) error {
	if err == nil {
		return errors.New("not loaded")
	}
	return err
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	p.mu.Lock()
	for name, l := range p.links {
		l.Close()
		delete(p.links, name)
	}
	p.mu.Unlock()
	return probe.Release(&p.objs)
}

// Describe implements probe.Probe.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }
