package enforce

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
)

// fnv64a is the hash enforce.bpf.c keys exec rules by.
func fnv64a(s string) uint64 {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 0x100000001b3
	}
	return h
}

// tables are the kernel entries of one generation.
type tables struct {
	gen        uint32
	selections []enforceSelectionKey
	exec       []enforceExecKey
	needles    []enforceNeedleKey
	connect    []enforceConnectKey
	needExec   bool
	needConn   bool
}

// policyNames gives each policy name a stable id, which verdicts carry:
// an audit record read after a swap still names its policy.
type policyNames struct {
	ids   map[string]uint32
	names []string
}

func (n *policyNames) id(name string) uint32 {
	if id, ok := n.ids[name]; ok {
		return id
	}
	if n.ids == nil {
		n.ids = map[string]uint32{}
	}
	n.ids[name] = uint32(len(n.names))
	n.names = append(n.names, name)
	return n.ids[name]
}

func (n *policyNames) name(id uint32) string {
	if int(id) < len(n.names) {
		return n.names[id]
	}
	return strconv.Itoa(int(id))
}

// rank orders verdicts as enforce.bpf.c does: an enforced block first,
// then a monitored block, then an audit.
func rank(v enforceVerdict) int {
	r := 0
	if v.Action == enforceVerdictActionACTION_BLOCK {
		r += 2
		if v.Enforce != 0 {
			r++
		}
	}
	return r
}

// stronger reports whether verdict a outranks b for the same key.
func stronger(a, b enforceVerdict) bool { return rank(a) > rank(b) }

// keepStronger puts v at k unless a stronger verdict is there.
func keepStronger[K comparable](m map[K]enforceVerdict, k K, v enforceVerdict) {
	if old, ok := m[k]; !ok || stronger(v, old) {
		m[k] = v
	}
}

// Apply makes s what the kernel enforces: the new generation's entries are
// written beside the current ones, made current with one write, and the
// old ones deleted. Programs are attached for the kinds of rule s has and
// detached for those it has not.
func (p *Probe) Apply(s Set) error {
	if err := s.Validate(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.objs == nil {
		return errors.New("enforce probe not started")
	}
	next := tables{gen: p.tables.gen + 1}
	exec := map[enforceExecKey]*execEntry{}
	conn := map[enforceConnectKey]enforceVerdict{}
	selections := map[string]uint32{}
	// Selection ids are fresh in each generation, so rules of the old one
	// stay as they were until it is deleted.
	nextSel := (next.gen%2)<<31 | 1
	for cg, idx := range s.Cgroups {
		if len(idx) == 0 {
			continue
		}
		idx = slices.Clone(idx)
		slices.Sort(idx)
		idx = slices.Compact(idx)
		key := fmt.Sprint(idx)
		sel, ok := selections[key]
		if !ok {
			sel = nextSel
			nextSel++
			selections[key] = sel
			for _, i := range idx {
				p.compile(s.Policies[i], sel, exec, conn)
			}
		}
		next.selections = append(next.selections, enforceSelectionKey{Gen: next.gen, CgroupId: cg})
		if err := p.bpf.Selections.Put(next.selections[len(next.selections)-1], sel); err != nil {
			p.deleteTables(next)
			return fmt.Errorf("selections: %w", err)
		}
	}
	for k, e := range exec {
		if err := p.putExec(&next, k, e); err != nil {
			p.deleteTables(next)
			return err
		}
	}
	for k, v := range conn {
		if err := p.bpf.ConnectRules.Put(k, v); err != nil {
			p.deleteTables(next)
			return fmt.Errorf("connect rules (%d): %w", len(conn), err)
		}
		next.connect = append(next.connect, k)
	}
	next.needExec, next.needConn = len(exec) > 0, len(conn) > 0
	// Hooks first: the flip below then finds them in place.
	if err := errors.Join(p.attach(execPrograms, next.needExec || p.tables.needExec), p.attach(connectPrograms, next.needConn || p.tables.needConn)); err != nil {
		p.deleteTables(next)
		return err
	}
	if err := p.bpf.ActiveGen.Put(uint32(0), next.gen); err != nil {
		p.deleteTables(next)
		return fmt.Errorf("make generation %d current: %w", next.gen, err)
	}
	p.deleteTables(p.tables)
	p.tables = next
	return errors.Join(p.attach(execPrograms, next.needExec), p.attach(connectPrograms, next.needConn))
}

// execEntry is what the rules of one selection say about one path: the
// verdict of those without argsContain, and per string the verdict of
// those with it.
type execEntry struct {
	verdict    enforceVerdict
	hasVerdict bool
	needles    map[string]enforceVerdict
}

func (e *execEntry) add(r ExecRule, v enforceVerdict) {
	if len(r.ArgsContain) == 0 {
		if !e.hasVerdict || stronger(v, e.verdict) {
			e.verdict, e.hasVerdict = v, true
		}
		return
	}
	if e.needles == nil {
		e.needles = map[string]enforceVerdict{}
	}
	for _, a := range r.ArgsContain {
		keepStronger(e.needles, a, v)
	}
}

// searched are the strings worth searching argv for: those whose verdict
// outranks the path's own, strongest first (the kernel stops at the first
// enforced kill found).
func (e *execEntry) searched() []string {
	var out []string
	for a, v := range e.needles {
		if !e.hasVerdict || stronger(v, e.verdict) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		if c := rank(e.needles[b]) - rank(e.needles[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return out
}

// putExec writes one path's entry of a selection and its strings.
func (p *Probe) putExec(next *tables, k enforceExecKey, e *execEntry) error {
	searched := e.searched()
	if len(searched) > MaxArgsContainPerPath {
		return fmt.Errorf("exec rules: %d argsContain strings for one path in one workload's policies, at most %d", len(searched), MaxArgsContainPerPath)
	}
	rule := enforceExecRule{Verdict: e.verdict, Needles: uint16(len(searched))}
	if e.hasVerdict {
		rule.HasVerdict = 1
	}
	if err := p.bpf.ExecRules.Put(k, rule); err != nil {
		return fmt.Errorf("exec rules (%d): %w", len(next.exec)+1, err)
	}
	next.exec = append(next.exec, k)
	for i, a := range searched {
		nk := enforceNeedleKey{Selection: k.Selection, Index: uint32(i), PathHash: k.PathHash}
		n := enforceNeedle{Verdict: e.needles[a], Len: uint32(len(a))}
		copy(n.Str[:], a)
		if err := p.bpf.ExecNeedles.Put(nk, n); err != nil {
			return fmt.Errorf("exec rules' argsContain strings (%d): %w", len(next.needles)+1, err)
		}
		next.needles = append(next.needles, nk)
	}
	return nil
}

// compile adds the rules of policy pol for selection sel, the stronger
// verdict winning where two rules match the same thing.
func (p *Probe) compile(pol Policy, sel uint32, exec map[enforceExecKey]*execEntry, conn map[enforceConnectKey]enforceVerdict) {
	id := p.names.id(pol.Name)
	enforce := uint8(0)
	if pol.Enforce {
		enforce = 1
	}
	verdict := func(rule int, block bool) enforceVerdict {
		v := enforceVerdict{Policy: id, Rule: uint16(rule), Enforce: enforce, Action: enforceVerdictActionACTION_AUDIT}
		if block {
			v.Action = enforceVerdictActionACTION_BLOCK
		}
		return v
	}
	for _, r := range pol.Exec {
		for _, path := range r.Paths {
			k := enforceExecKey{Selection: sel, PathHash: fnv64a(path)}
			e := exec[k]
			if e == nil {
				e = &execEntry{}
				exec[k] = e
			}
			e.add(r, verdict(r.Rule, r.Kill))
		}
	}
	for _, r := range pol.Connect {
		v := verdict(r.Rule, r.Deny)
		ports := r.Ports
		if len(ports) == 0 {
			ports = []uint16{0}
		}
		var protos []uint8
		if r.TCP {
			protos = append(protos, 6)
		}
		if r.UDP {
			protos = append(protos, 17)
		}
		for _, c := range r.CIDRs {
			addr, bits := c.Addr(), c.Bits()
			if addr.Is4() {
				bits += 96
			}
			a16 := addr.As16()
			for _, port := range ports {
				for _, proto := range protos {
					keepStronger(conn, enforceConnectKey{Prefixlen: uint32(64 + bits), Selection: sel, Protocol: proto, Port: port, Addr: a16}, v)
				}
			}
		}
	}
}

// deleteTables removes a generation's entries; what is already gone is no
// error.
func (p *Probe) deleteTables(t tables) {
	for _, k := range t.selections {
		deleteKey(p.bpf.Selections, k)
	}
	for _, k := range t.exec {
		deleteKey(p.bpf.ExecRules, k)
	}
	for _, k := range t.needles {
		deleteKey(p.bpf.ExecNeedles, k)
	}
	for _, k := range t.connect {
		deleteKey(p.bpf.ConnectRules, k)
	}
}

func deleteKey(m *ebpf.Map, k any) {
	_ = m.Delete(k) // a failure leaves an entry no generation looks up
}
