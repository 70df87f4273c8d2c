package compliance

import (
	"fmt"
	"path"
	"strings"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// plaintextPorts are well-known ports of protocols that carry data and
// credentials in clear text.
var plaintextPorts = map[uint32]string{
	20: "FTP data", 21: "FTP", 23: "Telnet", 25: "SMTP", 69: "TFTP", 80: "HTTP", 110: "POP3", 143: "IMAP",
	389: "LDAP", 512: "rexec", 513: "rlogin", 514: "rsh", 1883: "MQTT", 5672: "AMQP", 8080: "HTTP",
}

// shells are the programs of an interactive or scripted shell.
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "ash": true, "zsh": true, "ksh": true, "mksh": true, "csh": true, "tcsh": true, "fish": true}

// privilegeTools are programs that change identity, capabilities or
// namespaces.
var privilegeTools = map[string]bool{
	"su": true, "sudo": true, "doas": true, "setpriv": true, "capsh": true, "nsenter": true, "unshare": true, "chroot": true, "runuser": true,
}

// facts are the input's records within the period, by kind.
type facts struct {
	in                                *Input
	execs, conns, policies, anomalies []*pb.AuditRecord
}

func newFacts(in *Input) *facts {
	f := &facts{in: in}
	for _, r := range in.Records {
		t := r.GetTime().AsTime()
		if t.Before(in.From) || t.After(in.To) {
			continue
		}
		switch {
		case r.GetExec() != nil:
			f.execs = append(f.execs, r)
		case r.GetConnection() != nil:
			f.conns = append(f.conns, r)
		case r.GetPolicy() != nil:
			f.policies = append(f.policies, r)
		case r.GetAnomaly() != nil:
			f.anomalies = append(f.anomalies, r)
		}
	}
	return f
}

// noTrail marks c not assessed when no agent's trail was read.
func (f *facts) noTrail(c *Control) bool {
	if f.in.TrailErr == nil {
		return false
	}
	c.Verdict, c.Reason = NotAssessed, "no agent's audit trail could be read: "+f.in.TrailErr.Error()
	return true
}

// noProfiles marks c not assessed when there are no behaviour profiles.
func (f *facts) noProfiles(c *Control) bool {
	if f.in.ProfilesErr == nil && len(f.in.Profiles) > 0 {
		return false
	}
	why := "no behaviour profiles"
	if f.in.ProfilesErr != nil {
		why = f.in.ProfilesErr.Error()
	}
	c.Verdict, c.Reason = NotAssessed, "change detection needs the agents' behaviour profiles (orb8 agent --anomaly-detection): "+why
	return true
}

func recordRow(r *pb.AuditRecord, finding, kind, detail, why string) Row {
	w := r.GetWorkload()
	return Row{
		Finding: finding, Time: r.GetTime().AsTime().UTC(), Node: r.GetNode(),
		Namespace: w.GetNamespace(), Pod: w.GetPod(), Container: w.GetContainer(), Cgroup: w.GetCgroup(),
		Kind: kind, Detail: detail, Why: why,
	}
}

// connDetail is a connection in words: direction, remote end, its owner.
func connDetail(c *pb.Connection) string {
	remote := hostPort(c.GetRemoteAddr(), c.GetRemotePort())
	var s string
	if c.GetDirection() == "inbound" {
		s = fmt.Sprintf("inbound from %s to port %d", remote, c.GetLocalPort())
	} else {
		s = "outbound to " + remote
	}
	if p := c.GetRemotePeer(); p != nil {
		s += fmt.Sprintf(" (%s %s/%s)", p.GetKind(), p.GetNamespace(), p.GetName())
	}
	return s
}

func hostPort(addr string, port uint32) string {
	if strings.Contains(addr, ":") {
		return fmt.Sprintf("[%s]:%d", addr, port)
	}
	return fmt.Sprintf("%s:%d", addr, port)
}

// servicePort is the port of the connection's service: the remote one
// outbound, the local one inbound.
func servicePort(c *pb.Connection) uint32 {
	if c.GetDirection() == "inbound" {
		return c.GetLocalPort()
	}
	return c.GetRemotePort()
}

// plaintext: connections to or from outside the cluster on a plaintext
// protocol's port are violations; other connections across the boundary
// are evidence.
func plaintext(f *facts, c *Control) {
	c.Basis = "TCP connections in the agents' audit trails, by the service's port; the remote end outside the cluster (no pod or Service, not in a node's pod CIDR or address, not --internal-cidr)"
	if f.noTrail(c) {
		return
	}
	outside := 0
	for _, r := range f.conns {
		conn := r.GetConnection()
		if !f.in.Network.Outside(conn) {
			continue
		}
		outside++
		port := servicePort(conn)
		if proto, ok := plaintextPorts[port]; ok {
			c.Rows = append(c.Rows, recordRow(r, Violation, "connect", connDetail(conn),
				fmt.Sprintf("port %d is %s's, a plaintext protocol, across the cluster's boundary", port, proto)))
			continue
		}
		c.Rows = append(c.Rows, recordRow(r, Evidence, "connect", connDetail(conn),
			fmt.Sprintf("across the cluster's boundary on port %d, no plaintext protocol's", port)))
	}
	c.Reason = fmt.Sprintf("%d of %d TCP connections held crossed the cluster's boundary. Judged by port: orb8 does not read payloads, so TLS on a plaintext protocol's port, or clear text on another, is not told apart", outside, len(f.conns))
}

// segmentation lists the connections between the declared segment and
// the rest; with untrusted, those with outside the cluster are violations.
func segmentation(untrusted bool) func(*facts, *Control) {
	return func(f *facts, c *Control) {
		c.Basis = "TCP connections in the agents' audit trails, each end's namespace (the remote end's from the pod or Service that owned its address) against the segment's namespaces"
		seg := f.in.Segment
		switch {
		case seg == nil:
			c.Verdict, c.Reason = NotAssessed, "no segment declared: give --segment-label KEY=VALUE, the label of the namespaces of the cardholder data environment"
			return
		case seg.Err != nil:
			c.Verdict, c.Reason = NotAssessed, "the segment's namespaces could not be read: "+seg.Err.Error()
			return
		case f.noTrail(c):
			return
		}
		inSegment := 0
		for _, r := range f.conns {
			conn := r.GetConnection()
			local := seg.Namespaces[r.GetWorkload().GetNamespace()]
			outside := f.in.Network.Outside(conn)
			remote := !outside && conn.GetRemotePeer() != nil && seg.Namespaces[conn.GetRemotePeer().GetNamespace()]
			if local {
				inSegment++
			}
			switch {
			case local && outside && untrusted:
				c.Rows = append(c.Rows, recordRow(r, Violation, "connect", connDetail(conn), "between the segment and an address outside the cluster (an untrusted network)"))
			case untrusted && local:
				c.Rows = append(c.Rows, recordRow(r, Evidence, "connect", connDetail(conn), "a connection of the segment that stayed inside the cluster"))
			case !untrusted && local != remote && (local || remote):
				c.Rows = append(c.Rows, recordRow(r, Evidence, "connect", connDetail(conn), "crosses the segment's boundary: review that it is needed"))
			}
		}
		for _, r := range f.policies {
			p := r.GetPolicy()
			if p.GetOperation() == "connect" && seg.Namespaces[r.GetWorkload().GetNamespace()] && p.GetMode() == "enforce" {
				c.Rows = append(c.Rows, recordRow(r, Evidence, "policy", fmt.Sprintf("policy %s rule %d: %s %s", p.GetPolicy(), p.GetRule(), p.GetAction(), p.GetTarget()), "a connection of the segment a policy restricted"))
			}
		}
		c.Reason = fmt.Sprintf("segment %s: %d namespaces, %d connections of its workloads held of %d", seg.Label, len(seg.Namespaces), inSegment, len(f.conns))
		if !untrusted {
			c.Reason += "; orb8 lists what crosses the segment, it cannot know which flows the business needs"
		}
	}
}

// inContainer: a record of a Kubernetes container (or any container the
// cgroup path names).
func inContainer(r *pb.AuditRecord) bool {
	w := r.GetWorkload()
	return w.GetNamespace() != "" || w.GetContainer() != "" || w.GetContainerId() != ""
}

// programNames are the base names of the program an exec ran, as its
// path, the name given to execve, and argv[0] say; for busybox also the
// applet it runs (argv[1] of "busybox sh -c ...").
func programNames(x *pb.ExecDetail) []string {
	var out []string
	for _, s := range []string{x.GetPath(), x.GetFilename()} {
		if s != "" {
			out = append(out, path.Base(s))
		}
	}
	args := x.GetArgs()
	if len(args) > 0 {
		out = append(out, path.Base(args[0]))
	}
	if len(args) > 1 && contains(out, "busybox") {
		out = append(out, path.Base(args[1]))
	}
	return out
}

func execDetail(x *pb.ExecDetail) string {
	prog := x.GetPath()
	if prog == "" {
		prog = x.GetFilename()
	}
	s := prog
	if len(x.GetArgs()) > 0 {
		s += ": " + strings.Join(x.GetArgs(), " ")
		if x.GetArgsTruncated() {
			s += " ..."
		}
	}
	if x.GetParentPath() != "" {
		s += " (parent " + x.GetParentPath() + ")"
	}
	return s
}

// execTrail: every exec in a container is evidence of the audit trail; a
// shell or a tool that changes privileges is a violation.
func execTrail(f *facts, c *Control) {
	c.Basis = "exec events in the agents' audit trails (program, arguments, uid, parent) and policy matches"
	if f.noTrail(c) {
		return
	}
	for _, r := range f.execs {
		if !inContainer(r) {
			continue
		}
		x := r.GetExec()
		detail := fmt.Sprintf("uid %d ran %s", r.GetProcess().GetUid(), execDetail(x))
		row := recordRow(r, Evidence, "exec", detail, "recorded in the exec audit trail")
		for _, name := range programNames(x) {
			switch {
			case shells[name]:
				row.Finding, row.Why = Violation, "a shell ran in a container"
			case privilegeTools[name]:
				row.Finding, row.Why = Violation, "a program that changes privileges or namespaces ran in a container"
			default:
				continue
			}
			break
		}
		c.Rows = append(c.Rows, row)
	}
	for _, r := range f.policies {
		p := r.GetPolicy()
		c.Rows = append(c.Rows, recordRow(r, Evidence, "policy", fmt.Sprintf("policy %s rule %d (%s, %s): %s %s", p.GetPolicy(), p.GetRule(), p.GetAction(), p.GetMode(), p.GetOperation(), p.GetTarget()), "a policy match, recorded"))
	}
	c.Reason = fmt.Sprintf("%d execs in containers and %d policy matches held; the trail keeps no execs outside containers", len(f.execs), len(f.policies))
}

// profileRows are one evidence row per profile: what it learned of kind
// and whether it is frozen.
func profileRows(f *facts, kind, what string) []Row {
	var rows []Row
	for _, p := range f.in.Profiles {
		n := 0
		for _, s := range p.GetSets() {
			if s.GetKind() == kind {
				n = len(s.GetItems())
			}
		}
		state := "frozen since " + p.GetLearnUntil().AsTime().UTC().Format(time.RFC3339) + ": anything new is raised"
		if p.GetLearning() {
			state = "learning until " + p.GetLearnUntil().AsTime().UTC().Format(time.RFC3339) + ": nothing is raised before"
		}
		rows = append(rows, Row{
			Finding: Evidence, Time: p.GetLastSeen().AsTime().UTC(), Node: p.GetNode(), Namespace: p.GetNamespace(),
			Container: p.GetContainer(), Cgroup: p.GetCgroup(), Kind: "profile",
			Detail: fmt.Sprintf("profile %s: %d %s learned", p.GetIdentity(), n, what), Why: state,
		})
	}
	return rows
}

// raised are rows of the anomalies the profiles raised within the period,
// of the kinds given (all when none).
func raised(f *facts, why string, kinds ...string) []Row {
	var rows []Row
	for _, p := range f.in.Profiles {
		for _, s := range p.GetSets() {
			if len(kinds) > 0 && !contains(kinds, s.GetKind()) {
				continue
			}
			for _, a := range s.GetAnomalies() {
				t := a.GetTime().AsTime()
				if t.Before(f.in.From) || t.After(f.in.To) {
					continue
				}
				rows = append(rows, Row{
					Finding: Violation, Time: t.UTC(), Node: p.GetNode(), Namespace: p.GetNamespace(), Container: p.GetContainer(), Cgroup: p.GetCgroup(),
					Kind: "anomaly", Detail: fmt.Sprintf("%s %s (profile %s)", s.GetKind(), a.GetItem(), p.GetIdentity()), Why: why,
				})
			}
		}
	}
	return rows
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// changeDetection: new binaries raised by frozen profiles are violations.
func changeDetection(f *facts, c *Control) {
	c.Basis = "behaviour profiles (--anomaly-detection): the binaries each workload ran while it learned, and new_binary anomalies since"
	if f.noProfiles(c) {
		return
	}
	c.Rows = append(raised(f, "a program its workload never ran while learning: an unauthorized change?", "new_binary"), profileRows(f, "new_binary", "binaries")...)
	c.Reason = fmt.Sprintf("%d profiles; %s", len(f.in.Profiles), learningNote(f))
}

// anomalies: every anomaly raised in the period is a violation.
func anomalies(f *facts, c *Control) {
	c.Basis = "behaviour profiles (--anomaly-detection): new binaries, parent-child pairs, peers, DNS domains and listening ports"
	if f.noProfiles(c) {
		return
	}
	c.Rows = append(raised(f, "behaviour its workload's profile never showed"), profileRows(f, "new_binary", "binaries")...)
	c.Reason = fmt.Sprintf("%d profiles; %s", len(f.in.Profiles), learningNote(f))
}

func learningNote(f *facts) string {
	learning := 0
	for _, p := range f.in.Profiles {
		if p.GetLearning() {
			learning++
		}
	}
	if learning == 0 {
		return "all frozen"
	}
	return fmt.Sprintf("%d still learning, which raise nothing until frozen", learning)
}

// listening: the ports workloads accepted connections on are evidence;
// ports their profiles never learned are violations.
func listening(f *facts, c *Control) {
	c.Basis = "inbound TCP connections in the agents' audit trails (the local port), and with --anomaly-detection the listening ports of the profiles"
	haveProfiles := f.in.ProfilesErr == nil && len(f.in.Profiles) > 0
	if f.in.TrailErr != nil && !haveProfiles {
		f.noTrail(c)
		return
	}
	seen := map[string]bool{}
	for _, r := range f.conns {
		conn := r.GetConnection()
		if conn.GetDirection() != "inbound" || !inContainer(r) {
			continue
		}
		w := r.GetWorkload()
		key := fmt.Sprintf("%s/%s/%s/%s/%d", r.GetNode(), w.GetNamespace(), w.GetPod(), w.GetContainer(), conn.GetLocalPort())
		if seen[key] {
			continue
		}
		seen[key] = true
		c.Rows = append(c.Rows, recordRow(r, Evidence, "listen", fmt.Sprintf("accepted connections on tcp/%d (first from %s)", conn.GetLocalPort(), hostPort(conn.GetRemoteAddr(), conn.GetRemotePort())), "a service this workload offers"))
	}
	if haveProfiles {
		c.Rows = append(c.Rows, raised(f, "a port its workload never accepted connections on while learning: an unexpected service", "new_listen_port")...)
		c.Rows = append(c.Rows, profileRows(f, "new_listen_port", "listening ports")...)
		c.Reason = fmt.Sprintf("%d listening services seen; unexpected ones are those the profiles did not learn (%s)", len(seen), learningNote(f))
		return
	}
	c.Reason = fmt.Sprintf("%d listening services seen (ports that accepted connections); which are unexpected needs behaviour profiles (--anomaly-detection), which these agents do not keep", len(seen))
}
