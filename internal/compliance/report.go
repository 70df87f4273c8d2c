// Package compliance turns what orb8's agents hold (their audit trails of
// execs, connections, policy matches and anomalies, and the behaviour
// profiles of --anomaly-detection) into a compliance report: per control of
// a framework (PCI DSS 4.0, SOC 2) one verdict, evidence, violation or not
// assessed, with the rows behind it. It reads nothing itself: the CLI
// gathers the input.
package compliance

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// Verdicts.
const (
	Evidence    = "evidence"
	Violation   = "violation"
	NotAssessed = "not assessed"
)

// maxRows bounds the rows kept per control: violations first, then the
// most recent evidence; the rest are counted in RowsOmitted.
const maxRows = 200

// Report is a compliance report: its JSON form is the contract
// (docs/features/compliance.md).
type Report struct {
	Framework string    `json:"framework"`
	Title     string    `json:"title"`
	Generated time.Time `json:"generated"`
	Period    Period    `json:"period"`
	// Nodes whose agents answered.
	Nodes    []string  `json:"nodes"`
	Segment  string    `json:"segment,omitempty"` // --segment-label, as given
	Summary  Summary   `json:"summary"`
	Controls []Control `json:"controls"`
	// Notes say what limits the report: a period longer than the agents
	// hold, agents that did not answer, records cut.
	Notes []string `json:"notes,omitempty"`
}

// Period is the time the report covers.
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// HeldFrom is the earliest time from which every agent holds every
	// record; after From when the period asked exceeds what is held.
	HeldFrom time.Time `json:"heldFrom"`
	Complete bool      `json:"complete"`
}

// Summary counts the controls of each verdict and the rows of violations.
type Summary struct {
	Evidence      int `json:"evidence"`
	Violation     int `json:"violation"`
	NotAssessed   int `json:"notAssessed"`
	ViolationRows int `json:"violationRows"`
}

// Control is one control of the framework and its verdict.
type Control struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Verdict string `json:"verdict"`
	// Basis says what orb8 looked at; Reason why the verdict is what it
	// is (for not assessed: why orb8 cannot assess it).
	Basis  string `json:"basis,omitempty"`
	Reason string `json:"reason"`
	Rows   []Row  `json:"rows"`
	// Violations and EvidenceRows count every row found, RowsOmitted those
	// left out of Rows (at most 200 are kept).
	Violations   int `json:"violations"`
	EvidenceRows int `json:"evidenceRows"`
	RowsOmitted  int `json:"rowsOmitted,omitempty"`
}

// Row is one observation behind a verdict.
type Row struct {
	// Finding is violation or evidence.
	Finding   string    `json:"finding"`
	Time      time.Time `json:"time,omitzero"`
	Node      string    `json:"node,omitempty"`
	Namespace string    `json:"namespace,omitempty"`
	Pod       string    `json:"pod,omitempty"`
	Container string    `json:"container,omitempty"`
	Cgroup    string    `json:"cgroup,omitempty"`
	// Kind is what was observed: exec, connect, policy, anomaly, profile,
	// listen.
	Kind string `json:"kind"`
	// Detail is the observation in words: the program and its arguments,
	// the connection, the item.
	Detail string `json:"detail"`
	// Why says what makes it a violation, or what it is evidence of.
	Why string `json:"why"`
}

// Input is what the agents hold, as the CLI gathered it.
type Input struct {
	Framework string
	From, To  time.Time
	Records   []*pb.AuditRecord
	Coverage  []*pb.AuditCoverage
	// TrailErr: no agent answered with its trail.
	TrailErr error
	// Profiles are the behaviour profiles; ProfilesErr why there are none
	// (agents without --anomaly-detection).
	Profiles    []*pb.Profile
	ProfilesErr error
	// Segment is the cardholder data environment, nil when none was declared.
	Segment *Segment
	Network Network
	// Notes from gathering: agents that did not answer, records cut.
	Notes []string
}

// Segment is the namespaces inside a declared segment (the CDE).
type Segment struct {
	Label      string // KEY=VALUE
	Namespaces map[string]bool
	// Err: the namespaces could not be read.
	Err error
}

// Network tells addresses inside the cluster from those outside it.
type Network struct {
	// Internal are the cluster's ranges: nodes' pod CIDRs and addresses,
	// and what the user declared (--internal-cidr).
	Internal []netip.Prefix
	// Kubernetes: the ranges come from the cluster; without it, private
	// addresses count as internal.
	Kubernetes bool
}

// Outside says whether a connection's remote end is outside the cluster:
// no pod or Service the agent knew, not loopback or link-local, not in an
// internal range (and, without Kubernetes, not a private address).
func (n Network) Outside(c *pb.Connection) bool {
	if c.GetRemotePeer() != nil {
		return false
	}
	a, err := netip.ParseAddr(c.GetRemoteAddr())
	if err != nil {
		return false
	}
	a = a.Unmap()
	if a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || !n.Kubernetes && a.IsPrivate() {
		return false
	}
	for _, p := range n.Internal {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// Frameworks are the framework names --framework takes.
var Frameworks = []string{"pci-dss-4.0", "soc2"}

// Build evaluates in against its framework's controls.
func Build(in *Input, now time.Time) (*Report, error) {
	fw, ok := frameworks[in.Framework]
	if !ok {
		return nil, fmt.Errorf("framework %q: want pci-dss-4.0 or soc2", in.Framework)
	}
	r := &Report{Framework: in.Framework, Title: fw.title, Generated: now.UTC(), Notes: in.Notes}
	r.Period, r.Nodes = period(in, &r.Notes)
	if in.Segment != nil {
		r.Segment = in.Segment.Label
	}
	f := newFacts(in)
	for _, c := range fw.controls {
		ctl := Control{ID: c.id, Title: c.title}
		if c.check == nil {
			ctl.Verdict, ctl.Reason = NotAssessed, c.notAssessed
		} else {
			c.check(f, &ctl)
		}
		finish(&ctl)
		r.Controls = append(r.Controls, ctl)
		switch ctl.Verdict {
		case Evidence:
			r.Summary.Evidence++
		case Violation:
			r.Summary.Violation++
			r.Summary.ViolationRows += ctl.Violations
		default:
			r.Summary.NotAssessed++
		}
	}
	return r, nil
}

// period is the period asked, and from when every agent holds every
// record; a note says which agents hold less than asked.
func period(in *Input, notes *[]string) (Period, []string) {
	p := Period{From: in.From.UTC(), To: in.To.UTC(), HeldFrom: in.From.UTC(), Complete: in.TrailErr == nil}
	nodes := map[string]bool{}
	for _, c := range in.Coverage {
		nodes[c.GetNode()] = true
		held := c.GetHeldSince().AsTime()
		if held.After(in.From) {
			p.Complete = false
			if held.After(p.HeldFrom) {
				p.HeldFrom = held.UTC()
			}
			why := "the agent started then"
			if c.GetEvicted() > 0 {
				why = fmt.Sprintf("its trail keeps the last %d records of this kind; %d older ones were pushed out", c.GetCapacity(), c.GetEvicted())
			}
			*notes = append(*notes, fmt.Sprintf("node %s holds %s records only since %s, after the period's start (%s): %s",
				c.GetNode(), c.GetKind(), held.UTC().Format(time.RFC3339), p.From.Format(time.RFC3339), why))
		}
		if c.GetDropped() > 0 {
			*notes = append(*notes, fmt.Sprintf("node %s: %d records were lost because the trail fell behind the agent's events", c.GetNode(), c.GetDropped()))
		}
	}
	if in.TrailErr != nil {
		*notes = append(*notes, "no audit trail: "+in.TrailErr.Error())
	}
	var list []string
	for n := range nodes {
		list = append(list, n)
	}
	sort.Strings(list)
	*notes = dedupe(*notes)
	return p, list
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// finish sets the verdict from the rows when a check left it to them,
// orders the rows (violations first, newest first) and keeps at most
// maxRows.
func finish(c *Control) {
	for _, r := range c.Rows {
		if r.Finding == Violation {
			c.Violations++
		} else {
			c.EvidenceRows++
		}
	}
	if c.Verdict == "" {
		c.Verdict = Evidence
		if c.Violations > 0 {
			c.Verdict = Violation
		}
	}
	sort.SliceStable(c.Rows, func(i, j int) bool {
		a, b := c.Rows[i], c.Rows[j]
		if (a.Finding == Violation) != (b.Finding == Violation) {
			return a.Finding == Violation
		}
		return a.Time.After(b.Time)
	})
	if len(c.Rows) > maxRows {
		c.RowsOmitted = len(c.Rows) - maxRows
		c.Rows = c.Rows[:maxRows]
	}
	if c.Rows == nil {
		c.Rows = []Row{}
	}
}
