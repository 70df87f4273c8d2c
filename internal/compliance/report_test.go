package compliance

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

var (
	now   = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	from  = now.Add(-24 * time.Hour)
	web   = &pb.Workload{Namespace: "shop", Pod: "web-1", Container: "web", Cgroup: "/kubepods/p1/c1"}
	vault = &pb.Workload{Namespace: "cards", Pod: "vault-1", Container: "vault", Cgroup: "/kubepods/p2/c2"}
	cron  = &pb.Workload{Cgroup: "/system.slice/cron.service"}
)

func execRecord(at time.Duration, w *pb.Workload, path string, args ...string) *pb.AuditRecord {
	return &pb.AuditRecord{Time: timestamppb.New(from.Add(at)), Kind: "exec", Node: "n1", Workload: w,
		Process: &pb.Process{Pid: 7, Uid: 0}, Exec: &pb.ExecDetail{Filename: path, Path: path, Args: args}}
}

func connRecord(at time.Duration, w *pb.Workload, dir, remote string, port, local uint32, peer *pb.Peer) *pb.AuditRecord {
	return &pb.AuditRecord{Time: timestamppb.New(from.Add(at)), Kind: "connect", Node: "n1", Workload: w,
		Connection: &pb.Connection{Direction: dir, LocalAddr: "10.244.0.5", LocalPort: local, RemoteAddr: remote, RemotePort: port, RemotePeer: peer}}
}

// input is a day on one node: a shell and a program in containers, a cron
// job on the host, a plaintext and a TLS connection out of the cluster, one
// into the segment, and a frozen profile that raised a new binary.
func input() *Input {
	return &Input{
		Framework: "pci-dss-4.0", From: from, To: now,
		Records: []*pb.AuditRecord{
			execRecord(time.Hour, web, "/usr/sbin/nginx", "nginx"),
			execRecord(2*time.Hour, web, "/bin/sh", "sh", "-c", "true"),
			execRecord(3*time.Hour, web, "/bin/busybox", "/bin/busybox", "sh", "-c", "id"),
			execRecord(4*time.Hour, cron, "/usr/bin/backup"),
			execRecord(-time.Hour, web, "/bin/bash"), // before the period
			connRecord(5*time.Hour, web, "outbound", "198.51.100.7", 80, 40000, nil),
			connRecord(6*time.Hour, web, "outbound", "203.0.113.9", 443, 40001, nil),
			connRecord(7*time.Hour, web, "outbound", "10.244.0.9", 5432, 40002, &pb.Peer{Kind: "pod", Namespace: "cards", Name: "vault-1"}),
			connRecord(7*time.Hour, vault, "inbound", "10.244.0.5", 40002, 5432, &pb.Peer{Kind: "pod", Namespace: "shop", Name: "web-1"}),
			connRecord(8*time.Hour, web, "outbound", "10.244.0.1", 80, 40003, nil), // the node: inside
		},
		Coverage: []*pb.AuditCoverage{
			{Kind: "exec", Node: "n1", HeldSince: timestamppb.New(from.Add(-time.Hour)), Capacity: 8192},
			{Kind: "connect", Node: "n1", HeldSince: timestamppb.New(from.Add(time.Hour / 2)), Capacity: 8192, Evicted: 10},
		},
		Profiles: []*pb.Profile{{
			Identity: "shop/deployment/web/web", Namespace: "shop", Container: "web", Node: "n1",
			LearnUntil: timestamppb.New(from), LastSeen: timestamppb.New(now),
			Sets: []*pb.ProfileSet{{Kind: "new_binary", Items: []string{"/usr/sbin/nginx"}, Anomalies: []*pb.RaisedItem{
				{Item: "/usr/bin/nc", Time: timestamppb.New(from.Add(9 * time.Hour))},
				{Item: "/usr/bin/old", Time: timestamppb.New(from.Add(-2 * time.Hour))},
			}}},
		}},
		Segment: &Segment{Label: "pci=cde", Namespaces: map[string]bool{"cards": true}},
		Network: Network{Kubernetes: true, Internal: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/24")}},
	}
}

func controlOf(t *testing.T, r *Report, id string) Control {
	t.Helper()
	for _, c := range r.Controls {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no control %s", id)
	return Control{}
}

func details(c Control, finding string) []string {
	var out []string
	for _, r := range c.Rows {
		if r.Finding == finding {
			out = append(out, r.Detail)
		}
	}
	return out
}

func TestPCIVerdictsAndRows(t *testing.T) {
	r, err := Build(input(), now)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"1.2": NotAssessed, "1.3": Evidence, "1.4": Evidence, "2.2": Evidence, "4.2.1": Violation,
		"10.2": Violation, "11.5": Violation, "3": NotAssessed, "10.5": NotAssessed}
	for id, v := range want {
		if c := controlOf(t, r, id); c.Verdict != v {
			t.Errorf("%s: %s (%s), want %s", id, c.Verdict, c.Reason, v)
		}
	}
	if v := details(controlOf(t, r, "4.2.1"), Violation); len(v) != 1 || v[0] != "outbound to 198.51.100.7:80" {
		t.Errorf("4.2.1 violations %q", v)
	}
	if e := details(controlOf(t, r, "4.2.1"), Evidence); len(e) != 1 || e[0] != "outbound to 203.0.113.9:443" {
		t.Errorf("4.2.1 evidence %q: the TLS connection out, not the node's", e)
	}
	ten := controlOf(t, r, "10.2")
	if v := details(ten, Violation); len(v) != 2 || !strings.Contains(v[0], "/bin/busybox sh -c id") || !strings.Contains(v[1], "/bin/sh: sh -c true") {
		t.Errorf("10.2 violations %q: want the two shells, newest first, not the one before the period", v)
	}
	if e := details(ten, Evidence); len(e) != 1 || !strings.Contains(e[0], "nginx") {
		t.Errorf("10.2 evidence %q: want nginx only (a host's exec is no container's)", e)
	}
	if e := details(controlOf(t, r, "1.3"), Evidence); len(e) != 2 {
		t.Errorf("1.3 evidence %q: want the connection into the segment, seen from both ends", e)
	}
	if v := details(controlOf(t, r, "11.5"), Violation); len(v) != 1 || !strings.Contains(v[0], "/usr/bin/nc") {
		t.Errorf("11.5 violations %q: want nc, not the anomaly before the period", v)
	}
	if e := details(controlOf(t, r, "2.2"), Evidence); len(e) != 2 || !strings.Contains(strings.Join(e, "\n"), "accepted connections on tcp/5432") {
		t.Errorf("2.2 evidence %q: want the segment's listening port and the profile", e)
	}
	if r.Period.Complete || !r.Period.HeldFrom.Equal(from.Add(time.Hour/2)) || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "connect records only since") {
		t.Errorf("period %+v, notes %q: want it incomplete, connect records held from 30 min in", r.Period, r.Notes)
	}
	if r.Summary.Violation != 3 || r.Summary.ViolationRows != 4 {
		t.Errorf("summary %+v", r.Summary)
	}
}

// Without a segment, profiles or a trail, the controls that need them are
// not assessed, and say why.
func TestNotAssessedSaysWhy(t *testing.T) {
	in := input()
	in.Segment, in.Profiles, in.ProfilesErr = nil, nil, errors.New("the agents run without --anomaly-detection")
	r, _ := Build(in, now)
	for id, why := range map[string]string{"1.3": "--segment-label", "1.4": "--segment-label", "11.5": "--anomaly-detection"} {
		if c := controlOf(t, r, id); c.Verdict != NotAssessed || !strings.Contains(c.Reason, why) {
			t.Errorf("%s: %s, %q; want not assessed naming %s", id, c.Verdict, c.Reason, why)
		}
	}
	if c := controlOf(t, r, "2.2"); c.Verdict != Evidence || !strings.Contains(c.Reason, "needs behaviour profiles") {
		t.Errorf("2.2 without profiles: %s, %q", c.Verdict, c.Reason)
	}
	in.TrailErr = errors.New("agent gone")
	r, _ = Build(in, now)
	for _, id := range []string{"2.2", "4.2.1", "10.2"} {
		if c := controlOf(t, r, id); c.Verdict != NotAssessed || !strings.Contains(c.Reason, "agent gone") {
			t.Errorf("%s without a trail: %s, %q", id, c.Verdict, c.Reason)
		}
	}
}

func TestSOC2(t *testing.T) {
	in := input()
	in.Framework = "soc2"
	r, err := Build(in, now)
	if err != nil {
		t.Fatal(err)
	}
	for id, v := range map[string]string{"CC6.1": Evidence, "CC6.6": Violation, "CC7.2": Violation, "CC7.3": Violation, "CC6.2": NotAssessed} {
		if c := controlOf(t, r, id); c.Verdict != v {
			t.Errorf("%s: %s, want %s", id, c.Verdict, v)
		}
	}
	if _, err := Build(&Input{Framework: "hipaa"}, now); err == nil {
		t.Error("an unknown framework was accepted")
	}
}

// Without Kubernetes only public addresses are outside.
func TestOutsideWithoutKubernetes(t *testing.T) {
	n := Network{}
	for addr, want := range map[string]bool{"198.51.100.7": true, "10.1.2.3": false, "192.168.1.1": false, "127.0.0.1": false, "fe80::1": false, "2001:db8::1": true} {
		if got := n.Outside(&pb.Connection{RemoteAddr: addr}); got != want {
			t.Errorf("%s outside: %v, want %v", addr, got, want)
		}
	}
	if (Network{Kubernetes: true}).Outside(&pb.Connection{RemoteAddr: "10.1.2.3", RemotePeer: &pb.Peer{Kind: "service"}}) {
		t.Error("a Service's address is outside")
	}
}

// hostile is a workload whose names try to break out of each format.
func hostile() *Input {
	in := input()
	evil := &pb.Workload{Namespace: "shop", Pod: "x|y</td><script>alert(1)</script>", Container: "c\n# heading"}
	in.Records = append(in.Records, execRecord(10*time.Hour, evil, "/bin/sh", "sh", "-c", "echo <img src=x onerror=alert(2)> | [link](http://e.x)"))
	return in
}

func TestFormatsEscapeWorkloadStrings(t *testing.T) {
	r, _ := Build(hostile(), now)
	var html, md, js bytes.Buffer
	for f, buf := range map[string]*bytes.Buffer{"html": &html, "markdown": &md, "json": &js} {
		if err := Write(buf, r, f); err != nil {
			t.Fatal(f, err)
		}
	}
	if strings.Contains(html.String(), "<script>") || strings.Contains(html.String(), "<img") {
		t.Error("the HTML report carries a workload's markup unescaped")
	}
	for _, line := range strings.Split(md.String(), "\n") {
		if strings.HasPrefix(line, "# heading") || strings.Contains(line, "](http") {
			t.Errorf("markdown line breaks out of its cell: %q", line)
		}
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Controls) != len(r.Controls) {
		t.Errorf("JSON does not read back: %v", err)
	}
	if err := Write(&html, r, "pdf"); err == nil {
		t.Error("an unknown format was accepted")
	}
}
