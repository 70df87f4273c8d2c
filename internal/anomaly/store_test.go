package anomaly

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/cgroup"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testStore(maxProfiles, maxItems int) *Store {
	return NewStore(Options{Learning: time.Minute, MaxProfiles: maxProfiles, MaxItems: maxItems})
}

// TestLearnThenRaiseOnce: items seen while learning are never anomalies;
// after the window each new item is raised exactly once.
func TestLearnThenRaiseOnce(t *testing.T) {
	s := testStore(10, 10)
	id := Identity{Cgroup: "/web"}
	if s.Observe(id, NewBinary, "/usr/bin/true", t0) {
		t.Fatal("the first event of an identity raised an anomaly")
	}
	if s.Observe(id, NewBinary, "/usr/bin/env", t0.Add(59*time.Second)) {
		t.Fatal("an item within the learning window raised an anomaly")
	}
	after := t0.Add(time.Minute)
	for _, item := range []string{"/usr/bin/true", "/usr/bin/env"} {
		if s.Observe(id, NewBinary, item, after) {
			t.Fatalf("learned %s raised an anomaly", item)
		}
	}
	if !s.Observe(id, NewBinary, "/usr/bin/id", after) {
		t.Fatal("a new binary after learning raised no anomaly")
	}
	if s.Observe(id, NewBinary, "/usr/bin/id", after.Add(time.Second)) {
		t.Fatal("the same new binary raised a second anomaly")
	}
	if !s.Observe(id, NewPeer, "10.0.0.1:80", after) {
		t.Fatal("a new peer after learning raised no anomaly: kinds are separate sets")
	}
	p, ok := s.Profile("/web")
	if !ok || len(p.Items[NewBinary]) != 2 || len(p.Anomalies[NewBinary]) != 1 || p.Anomalies[NewBinary][0].Item != "/usr/bin/id" {
		t.Fatalf("profile %+v", p)
	}
	if p.Learning(after) || !p.Learning(t0) {
		t.Fatal("learning window wrong")
	}
}

// TestIdentitiesLearnApart: each identity has its own window from its own
// first event.
func TestIdentitiesLearnApart(t *testing.T) {
	s := testStore(10, 10)
	a, b := Identity{Cgroup: "/a"}, Identity{Namespace: "default", OwnerKind: "Deployment", Owner: "web", Container: "nginx"}
	s.Observe(a, NewBinary, "/bin/sh", t0)
	late := t0.Add(2 * time.Minute)
	if s.Observe(b, NewBinary, "/bin/ls", late) {
		t.Fatal("a new identity raised an anomaly in its own learning window")
	}
	if !s.Observe(a, NewBinary, "/bin/ls", late) {
		t.Fatal("the frozen identity did not raise /bin/ls")
	}
	if got := b.String(); got != "default/deployment/web/nginx" {
		t.Fatalf("identity %q", got)
	}
}

// TestPeerFanOut: past fanOut addresses of one block on one port the
// block is learned, and covers the block's other addresses.
func TestPeerFanOut(t *testing.T) {
	s := testStore(10, 100)
	id := Identity{Cgroup: "/client"}
	for i := 1; i <= fanOut+1; i++ {
		s.Observe(id, NewPeer, Address(netip.MustParseAddrPort(fmt.Sprintf("10.1.2.%d:443", i))), t0)
	}
	s.Observe(id, NewPeer, "10.9.9.9:53", t0)
	p, _ := s.Profile("/client")
	if got := p.Items[NewPeer]; len(got) != 2 || got[0] != "10.1.2.0/24:443" || got[1] != "10.9.9.9:53" {
		t.Fatalf("peers %q", got)
	}
	after := t0.Add(time.Hour)
	if s.Observe(id, NewPeer, "10.1.2.200:443", after) {
		t.Fatal("an address of a learned block raised an anomaly")
	}
	if !s.Observe(id, NewPeer, "10.1.2.200:80", after) || !s.Observe(id, NewPeer, "10.1.3.1:443", after) {
		t.Fatal("another port or block raised no anomaly")
	}
	if got := blockOf("[2001:db8::1]:443"); got != "[2001:db8::/64]:443" {
		t.Fatalf("IPv6 block %q", got)
	}
}

// TestBounds: past MaxProfiles identities are dropped, past MaxItems
// items overflow; both counted.
func TestBounds(t *testing.T) {
	s := testStore(1, 2)
	id := Identity{Cgroup: "/a"}
	for _, x := range []string{"/1", "/2", "/3"} {
		s.Observe(id, NewBinary, x, t0)
	}
	s.Observe(Identity{Cgroup: "/b"}, NewBinary, "/1", t0)
	after := t0.Add(time.Hour)
	raised := 0
	for _, x := range []string{"/4", "/5", "/6"} {
		if s.Observe(id, NewBinary, x, after) {
			raised++
		}
	}
	learning, frozen, dropped, overflow := s.Counts(after)
	if learning != 0 || frozen != 1 || dropped != 1 || overflow[NewBinary] != 2 || raised != 2 {
		t.Fatalf("learning %d frozen %d dropped %d overflow %v raised %d", learning, frozen, dropped, overflow, raised)
	}
}

// TestResetRelearn: a reset profile learns anew; a re-learned one keeps
// its items, takes its anomalies as learned, and learns for a window.
func TestResetRelearn(t *testing.T) {
	s := testStore(10, 10)
	id := Identity{Cgroup: "/a"}
	s.Observe(id, NewBinary, "/1", t0)
	after := t0.Add(time.Hour)
	s.Observe(id, NewBinary, "/2", after)
	if !s.Relearn("/a", after) {
		t.Fatal("no profile to re-learn")
	}
	if s.Observe(id, NewBinary, "/3", after.Add(time.Second)) {
		t.Fatal("a re-learning profile raised an anomaly")
	}
	later := after.Add(time.Hour)
	if s.Observe(id, NewBinary, "/2", later) || !s.Observe(id, NewBinary, "/4", later) {
		t.Fatal("after re-learning, /2 is learned and /4 new")
	}
	if !s.Reset("/a") || s.Reset("/a") || s.Relearn("/a", later) {
		t.Fatal("reset of a missing profile reported done")
	}
	if s.Observe(id, NewBinary, "/5", later) {
		t.Fatal("a reset profile raised an anomaly at its first event")
	}
}

type owners map[string][2]string

func (o owners) Owner(ns, pod string) (string, string, bool) {
	x, ok := o[ns+"/"+pod]
	return x[0], x[1], ok
}

// TestIdentityOf: pods by owner and container, known owners only; hosts
// by cgroup path.
func TestIdentityOf(t *testing.T) {
	o := owners{"shop/web-7d9f-abcde": {"Deployment", "web"}}
	w := cgroup.Workload{Path: "/kubepods/pod1/c1", Namespace: "shop", Pod: "web-7d9f-abcde", Container: "nginx"}
	id, ok := IdentityOf(&w, o)
	if !ok || id.String() != "shop/deployment/web/nginx" {
		t.Fatalf("%v %v", id, ok)
	}
	w.Pod = "unknown"
	if _, ok := IdentityOf(&w, o); ok {
		t.Fatal("a pod of unknown owner was profiled")
	}
	id, ok = IdentityOf(&cgroup.Workload{Path: "/system.slice/sshd.service"}, o)
	if !ok || id.String() != "/system.slice/sshd.service" {
		t.Fatalf("%v %v", id, ok)
	}
}

func TestItems(t *testing.T) {
	for qname, want := range map[string]string{
		"www.Example.COM.": "example.com", "a.b.example.co.uk": "example.co.uk", "localhost": "localhost",
		"web.shop.svc.cluster.local": "cluster.local",
	} {
		if got := Domain(qname); got != want {
			t.Errorf("Domain(%q) = %q, want %q", qname, got, want)
		}
	}
	if got := Address(netip.MustParseAddrPort("[::ffff:10.0.0.1]:80")); got != "10.0.0.1:80" {
		t.Errorf("Address %q", got)
	}
	if got := Named("Service", "shop", "db", 5432); got != "service:shop/db:5432" {
		t.Errorf("Named %q", got)
	}
	if Lineage("", "/bin/sh") != "" || Lineage("/bin/bash", "/bin/sh") != "/bin/bash -> /bin/sh" {
		t.Error("Lineage")
	}
}
