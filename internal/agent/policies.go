package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/kube"
	"github.com/orb8/orb8/internal/policy"
	"github.com/orb8/orb8/internal/probes/dns"
	"github.com/orb8/orb8/internal/probes/enforce"
	"github.com/orb8/orb8/internal/tick"
)

// reconcileEvery is how often the workloads policies select are worked out
// again: a new workload is enforced within it (and within the 2 s a policy
// change has).
const reconcileEvery = 500 * time.Millisecond

// policies keeps the enforce probe's rules equal to what the policies say
// (files, the Kubernetes API, or both) for the workloads of the node, and
// writes the audit log.
type policies struct {
	log   *slog.Logger
	probe *enforce.Probe
	agent *Agent
	mu    sync.Mutex
	// sources hold the policies of each source, loaded theirs in order.
	sources map[string]policySource
	loaded  []policy.Policy
	dirty   bool
	last    enforce.Set
	// dns holds the DNS rules of the policies selecting each workload,
	// matched here on the DNS probe's lookups; dnsWatch ends the watch of
	// lookups, nil while no policy has a DNS rule.
	dns      map[uint64][]dnsRule
	dnsWatch context.CancelFunc
	ctx      context.Context
	seen     inputs // as of the last reconcile
}

// The sources of policies, in the order their policies are given to the probe.
const (
	sourceDir        = "policy file"
	sourceKubernetes = "policy"
)

// policySource is what one source gave: its valid policies, and why each
// invalid one (by file, or by object) is skipped.
type policySource struct {
	loaded []policy.Policy
	bad    map[string]error
}

// dnsRule is a DNS rule of a policy.
type dnsRule struct {
	policy string
	rule   int
	mode   policy.Mode
	names  []string
}

// startPolicies watches --policy-dir and, with --kube-policies, the
// policies of the Kubernetes API, keeps the enforce probe's rules current,
// and records Events on the pods policies act on; nothing without policies.
func (a *Agent) startPolicies(ctx context.Context) error {
	if !a.cfg.Policies() {
		return nil
	}
	var probe *enforce.Probe
	for _, p := range a.probes {
		if e, ok := p.Probe.(*enforce.Probe); ok && p.running() {
			probe = e
		}
	}
	if probe == nil {
		return errors.New("the enforce probe does not run (orb8 status says why)")
	}
	ps := &policies{log: a.log, probe: probe, agent: a, ctx: ctx, sources: map[string]policySource{}}
	if a.cfg.PolicyDir != "" {
		// The directory was found readable (validatePolicies); one that
		// went away since is reported here.
		go func() {
			if err := policy.WatchDir(ctx, a.cfg.PolicyDir, ps.update(sourceDir)); err != nil {
				a.log.Error("policies not enforced", "err", err)
			}
		}()
	}
	if a.kubePolicies != nil {
		go a.kubePolicies.Run(ctx, ps.update(sourceKubernetes))
		go a.podEvents.Run(ctx)
		a.follow(ctx, []string{events.KindPolicy}, 1024, a.recordPodEvent, nil)
	}
	tick.Every(ctx, reconcileEvery, func(time.Time) { ps.reconcile() })
	return nil
}

// update takes what one source gives: its valid policies, and its bad
// files or objects, which are logged and skipped.
func (ps *policies) update(source string) func([]policy.Policy, map[string]error) {
	return func(loaded []policy.Policy, bad map[string]error) {
		for what, err := range bad {
			ps.log.Warn(source+" skipped", "name", what, "err", err)
		}
		ps.mu.Lock()
		ps.sources[source] = policySource{loaded, bad}
		ps.loaded = nil
		problems := map[string]error{}
		for _, name := range []string{sourceDir, sourceKubernetes} {
			ps.loaded = append(ps.loaded, ps.sources[name].loaded...)
			for what, err := range ps.sources[name].bad {
				problems[name+" "+what] = err
			}
		}
		ps.dirty = true
		ps.mu.Unlock()
		ps.probe.SetProblems(problems)
		ps.log.Info("policies loaded", "source", source, "policies", len(loaded), "skipped", len(bad))
		ps.reconcile()
	}
}

// reconcile works out which workloads each policy selects and gives the
// probe the rules, when the policies, the workloads or what Kubernetes
// says of them changed since the last time.
func (ps *policies) reconcile() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	seen := inputs{resolver: ps.agent.resolver.Generation()}
	if ps.agent.kube != nil {
		seen.kube = ps.agent.kube.Version()
	}
	if !ps.dirty && seen == ps.seen {
		return
	}
	set := enforce.Set{Cgroups: map[uint64][]int{}}
	dnsByCgroup := map[uint64][]dnsRule{}
	rules := make([][]dnsRule, len(ps.loaded))
	for i, p := range ps.loaded {
		set.Policies = append(set.Policies, compilePolicy(p))
		rules[i] = dnsRules(p)
	}
	// One pass over the workloads, each matched against every policy.
	ps.agent.resolver.Matching(func(w *cgroup.Workload) bool {
		t := ps.agent.policyTarget(w)
		for i, p := range ps.loaded {
			if p.Selects(t) {
				set.Cgroups[w.ID] = append(set.Cgroups[w.ID], i)
				if len(rules[i]) > 0 {
					dnsByCgroup[w.ID] = append(dnsByCgroup[w.ID], rules[i]...)
				}
			}
		}
		return false
	})
	ps.watchDNS(dnsByCgroup)
	if !ps.dirty && reflect.DeepEqual(set, ps.last) {
		ps.seen = seen
		return
	}
	err := ps.probe.Apply(set)
	if ps.dirty && ps.agent.kubePolicies != nil {
		ps.agent.kubePolicies.Applied(err)
	}
	if err != nil {
		ps.log.Warn("policies not applied", "err", err)
		return
	}
	ps.last, ps.dirty, ps.seen = set, false, seen
}

// inputs are the versions of what a reconcile read.
type inputs struct{ resolver, kube uint64 }

// policyTarget is what a policy's selector sees of a workload.
func (a *Agent) policyTarget(w *cgroup.Workload) policy.Target {
	t := policy.Target{Cgroup: w.Path, Namespace: w.Namespace, Pod: w.Pod, Container: w.Container}
	if a.kube != nil && w.Pod != "" {
		t.PodLabels = a.kube.PodLabels(w.Namespace, w.Pod)
	}
	return t
}

// compilePolicy is p's exec and connect rules as the enforce probe checks
// them; DNS rules are matched in user space.
func compilePolicy(p policy.Policy) enforce.Policy {
	out := enforce.Policy{Name: p.Ref(), Enforce: p.Mode != policy.ModeMonitor}
	for i, r := range p.Rules {
		switch {
		case r.Exec != nil:
			paths := append([]string(nil), r.Exec.Paths...)
			sort.Strings(paths)
			out.Exec = append(out.Exec, enforce.ExecRule{Rule: i, Paths: paths, ArgsContain: r.Exec.ArgsContain, Kill: r.Action == policy.ActionKill})
		case r.Connect != nil:
			c := enforce.ConnectRule{Rule: i, CIDRs: r.Connect.CIDRs, Ports: r.Connect.Ports, Deny: r.Action == policy.ActionDeny}
			c.TCP, c.UDP = len(r.Connect.Protocols) == 0, len(r.Connect.Protocols) == 0
			for _, proto := range r.Connect.Protocols {
				c.TCP = c.TCP || proto == "tcp"
				c.UDP = c.UDP || proto == "udp"
			}
			out.Connect = append(out.Connect, c)
		}
	}
	return out
}

// dnsRules are p's DNS rules.
func dnsRules(p policy.Policy) []dnsRule {
	var out []dnsRule
	for i, r := range p.Rules {
		if r.DNS != nil {
			out = append(out, dnsRule{policy: p.Ref(), rule: i, mode: p.Mode, names: r.DNS.Names})
		}
	}
	return out
}

// matches reports whether the rule names qname: exactly, or below a
// "*.suffix" (names are lower case, without the trailing dot).
func (r dnsRule) matches(qname string) bool {
	qname = strings.ToLower(strings.TrimSuffix(qname, "."))
	for _, n := range r.names {
		if suffix, ok := strings.CutPrefix(n, "*."); ok {
			if strings.HasSuffix(qname, "."+suffix) {
				return true
			}
		} else if qname == n {
			return true
		}
	}
	return false
}

// watchDNS takes the DNS rules by workload, and watches lookups while
// there are any; called with ps.mu held.
func (ps *policies) watchDNS(rules map[uint64][]dnsRule) {
	ps.dns = rules
	switch {
	case len(rules) > 0 && ps.dnsWatch == nil:
		if !ps.agent.probeRunning(dns.Name) {
			ps.log.Warn("DNS rules of policies are not matched: the dns probe does not run")
			return
		}
		ctx, cancel := context.WithCancel(ps.ctx)
		ps.dnsWatch = cancel
		ps.agent.follow(ctx, []string{events.KindDNS}, 1024, ps.matchDNS, nil)
	case len(rules) == 0 && ps.dnsWatch != nil:
		ps.dnsWatch()
		ps.dnsWatch = nil
	}
}

// matchDNS records each DNS rule that a lookup matches.
func (ps *policies) matchDNS(e *events.Event) {
	ps.mu.Lock()
	rules := ps.dns[e.Workload.ID]
	ps.mu.Unlock()
	for _, r := range rules {
		if r.matches(e.DNS.QName) {
			ps.probe.Count(e.Workload.ID, e.Process, e.Time, &events.PolicyMatch{
				Policy: r.policy, Rule: r.rule, Action: string(policy.ActionAudit), Mode: string(r.mode), Operation: "dns", Name: e.DNS.QName,
			})
		}
	}
}

// follow subscribes to the bus's events of kinds now, and hands each to fn
// until ctx ends; then done, if any.
func (a *Agent) follow(ctx context.Context, kinds []string, size int, fn func(*events.Event), done func()) *events.Subscription {
	sub := a.bus.Subscribe(size, kinds, nil)
	go func() {
		defer a.bus.Unsubscribe(sub)
		if done != nil {
			defer done()
		}
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-sub.C:
				fn(&e)
			}
		}
	}()
	return sub
}

// probeRunning reports whether the probe named runs.
func (a *Agent) probeRunning(name string) bool {
	for _, p := range a.probes {
		if p.Name() == name && p.running() {
			return true
		}
	}
	return false
}

// recordPodEvent records a Kubernetes Event on the pod whose process a
// policy killed or denied; audits and monitoring policies record none.
func (a *Agent) recordPodEvent(e *events.Event) {
	m := e.Policy
	if m == nil || m.Mode != string(policy.ModeEnforce) || e.Workload.Pod == "" {
		return
	}
	ev := kube.PodEvent{Namespace: e.Workload.Namespace, Pod: e.Workload.Pod}
	switch policy.Action(m.Action) {
	case policy.ActionKill:
		ev.Reason = "PolicyKilled"
		ev.Message = fmt.Sprintf("policy %s rule %d killed the exec of %s", m.Policy, m.Rule, strconv.Quote(m.Filename))
	case policy.ActionDeny:
		ev.Reason = "PolicyDenied"
		ev.Message = fmt.Sprintf("policy %s rule %d denied a %s connection to %s", m.Policy, m.Rule, m.Protocol,
			net.JoinHostPort(m.Address, strconv.Itoa(int(m.Port))))
	default:
		return
	}
	a.podEvents.Record(ev)
}
