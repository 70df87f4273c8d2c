package enforce

import (
	"net/netip"
	"slices"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
)

// matchKey is one series of orb8_policy_matches_total, or (policy only)
// of orb8_policy_args_unchecked_total.
type matchKey struct {
	cgroup               uint64
	policy, action, mode string
}

// handle turns an audit record into a policy event and counts it.
func (p *Probe) handle(raw []byte) {
	if len(raw) < int(unsafe.Sizeof(enforceAuditEvent{})) {
		return
	}
	e := (*enforceAuditEvent)(unsafe.Pointer(&raw[0]))
	p.mu.Lock()
	if e.Kind == enforceAuditKindAUDIT_ARGS_UNCHECKED {
		p.unchecked[matchKey{cgroup: e.CgroupId, policy: p.names.name(e.Verdict.Policy)}]++
		p.mu.Unlock()
		return
	}
	m := &events.PolicyMatch{Policy: p.names.name(e.Verdict.Policy), Rule: int(e.Verdict.Rule), Mode: "monitor"}
	if e.Verdict.Enforce != 0 {
		m.Mode = "enforce"
	}
	switch e.Kind {
	case enforceAuditKindAUDIT_EXEC:
		m.Operation, m.Action = "exec", "kill"
		m.Filename, m.Path = probe.CString(e.Filename[:]), probe.CString(e.Path[:])
		m.Args, m.ArgsTruncated = probe.Argv(e.Args[:min(int(e.ArgsLen), len(e.Args))], e.ArgsTruncated != 0)
	case enforceAuditKindAUDIT_CONNECT:
		m.Operation, m.Action = "connect", "deny"
		m.Address, m.Port = netip.AddrFrom16(e.Addr).Unmap().String(), e.Port
		m.Protocol = map[uint8]string{6: "tcp", 17: "udp"}[e.Protocol]
	default:
		p.mu.Unlock()
		return
	}
	if e.Verdict.Action == enforceVerdictActionACTION_AUDIT {
		m.Action = "audit"
	}
	p.matches[matchKey{e.CgroupId, m.Policy, m.Action, m.Mode}]++
	p.mu.Unlock()
	p.publish(e.CgroupId, events.Process{PID: e.Pid, PPID: e.Ppid, UID: e.Uid, Comm: probe.CString(e.Comm[:])}, probe.BootTime(e.BootNs), m)
}

// Count records a match found outside the kernel (DNS rules, matched on
// the DNS probe's lookups) with the kernel's: counted and published.
func (p *Probe) Count(cgroupID uint64, proc events.Process, at time.Time, m *events.PolicyMatch) {
	p.mu.Lock()
	p.matches[matchKey{cgroupID, m.Policy, m.Action, m.Mode}]++
	p.mu.Unlock()
	p.publish(cgroupID, proc, at, m)
}

// publish sends a match as a policy event to whoever listens.
func (p *Probe) publish(cgroupID uint64, proc events.Process, at time.Time, m *events.PolicyMatch) {
	if !p.env.Events.Wants(events.KindPolicy) {
		return
	}
	w, _ := p.env.Resolver.Visible(cgroupID)
	w.ID = cgroupID
	p.env.Events.Publish(events.Event{Time: at, Kind: events.KindPolicy, Workload: w, Process: proc, Policy: m})
}

// Collect implements probe.Probe: the matches counted so far, by workload.
// A gone workload's counts stay until the agent forgets it.
func (p *Probe) Collect(ch chan<- prometheus.Metric) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, n := range p.matches {
		w, ok := p.env.Resolver.Visible(k.cgroup)
		if !ok {
			continue
		}
		ch <- series.Metric(matchesDesc, prometheus.CounterValue, float64(n), w, k.policy, k.action, k.mode)
	}
	for k, n := range p.unchecked {
		if w, ok := p.env.Resolver.Visible(k.cgroup); ok {
			ch <- series.Metric(argsUncheckedDesc, prometheus.CounterValue, float64(n), w, k.policy)
		}
	}
	return nil
}

// Forget implements probe.Forgetter: gone workloads' match counts go.
func (p *Probe) Forget(ids []uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range []map[matchKey]uint64{p.matches, p.unchecked} {
		for k := range m {
			if slices.Contains(ids, k.cgroup) {
				delete(m, k)
			}
		}
	}
}
