package network

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

// Test networks: 198.18.0.0/15 (RFC 2544, benchmarking) and a ULA prefix,
// configured only inside the namespaces the tests make.
const (
	netA4, netB4 = "198.18.0.1", "198.18.0.2"
	netA6, netB6 = "fd6f:7262:3800::1", "fd6f:7262:3800::2"
	blackHoleNet = "198.18.1.1/24"
	blackHole    = "198.18.1.2" // has a neighbour entry nobody answers to
)

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// newNetns makes a network namespace with loopback up, deleted after the
// test; it returns the name and the /run/netns path helpers enter.
func newNetns(t *testing.T, suffix string) (name, path string) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8) from iproute2")
	}
	name = fmt.Sprintf("orb8-test-%d-%s", os.Getpid(), suffix)
	ipCmd(t, "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	ipCmd(t, "-n", name, "link", "set", "lo", "up")
	return name, "/run/netns/" + name
}

func nsInode(t *testing.T, path string) uint32 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return uint32(st.Ino)
}

// vethPair joins namespaces a and b with a veth pair addressed netA/netB.
func vethPair(t *testing.T, a, b string) {
	t.Helper()
	ipCmd(t, "link", "add", "o8a", "netns", a, "type", "veth", "peer", "name", "o8b", "netns", b)
	for _, side := range []struct{ ns, dev, v4, v6 string }{{a, "o8a", netA4, netA6}, {b, "o8b", netB4, netB6}} {
		ipCmd(t, "-n", side.ns, "addr", "add", side.v4+"/30", "dev", side.dev)
		ipCmd(t, "-n", side.ns, "addr", "add", side.v6+"/64", "dev", side.dev, "nodad")
		ipCmd(t, "-n", side.ns, "link", "set", side.dev, "up")
	}
}

func TestTCPAcrossNetworkNamespaces(t *testing.T) {
	f := start(t)
	nsA, pathA := newNetns(t, "a")
	nsB, pathB := newNetns(t, "b")
	vethPair(t, nsA, nsB)
	for _, server := range []string{netB4, netB6} {
		t.Run(server, func(t *testing.T) {
			client, srv := testutil.NewCgroup(t), testutil.NewCgroup(t)
			ce, se := f.subscribe(t, client), f.subscribe(t, srv)
			c, s, _ := exchange(t, client, srv, pathA, pathB, netip.MustParseAddr(server), "copy")
			f.checkExchange(t, client, srv, c, s, ce, se)
			flows, err := f.flowsOf(srv.Path, "")
			if err != nil || len(flows) != 1 || flows[0].NetNS != nsInode(t, pathB) {
				t.Errorf("server flows %+v, %v: want one in network namespace %d", flows, err, nsInode(t, pathB))
			}
		})
	}
}

// snmp reads one counter of a namespace's /proc/net/snmp or /proc/net/netstat
// (a header line "Group: names..." followed by "Group: values...").
func snmp(t *testing.T, ns, file, group, name string) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "cat", file).Output()
	if err != nil {
		t.Fatalf("read %s in %s: %v", file, ns, err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != group+":" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, n := range names {
			if n == name && i < len(fields) {
				v, err := strconv.Atoi(fields[i])
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
		}
	}
	t.Fatalf("no %s %s in %s", group, name, file)
	return 0
}

// Data segments lost on the way are retransmitted: the server's address
// turns into a black hole (a neighbour entry with a MAC nobody has) after
// the connection is up, the client sends, and its retransmissions are
// counted exactly as the namespace's own counter has them.
func TestRetransmitsOfLostData(t *testing.T) {
	f := start(t)
	nsA, pathA := newNetns(t, "a")
	nsB, pathB := newNetns(t, "b")
	vethPair(t, nsA, nsB)
	client, server := testutil.NewCgroup(t), testutil.NewCgroup(t)
	srv := startPeer(t, server, pathB, "stream", netB4+":0", "copy", "0", "0")
	cli := startPeer(t, client, pathA, "stream", fmt.Sprintf("%s:%d", netB4, srv.port()), "copy", "0", "0")
	cli.report()
	srv.report()
	if n := snmp(t, nsA, "/proc/net/snmp", "Tcp", "RetransSegs"); n != 0 {
		t.Fatalf("%d retransmissions before the black hole", n)
	}
	ipCmd(t, "-n", nsA, "neigh", "replace", netB4, "lladdr", "02:00:00:00:00:01", "dev", "o8a", "nud", "permanent")
	fmt.Fprintln(cli.stdin, "send 1000")
	cli.line()
	// Retransmission timeouts start at 200 ms and double; wait for a few.
	testutil.Eventually(t, 10*time.Second, func() bool { return f.value(t, "orb8_tcp_retransmits_total", client) >= 3 },
		"retransmits of the client: %v", f.value(t, "orb8_tcp_retransmits_total", client))
	fmt.Fprintln(cli.stdin, "abort")
	cli.wait()
	retrans := snmp(t, nsA, "/proc/net/snmp", "Tcp", "RetransSegs")
	if syn := snmp(t, nsA, "/proc/net/netstat", "TcpExt", "TCPSynRetrans"); syn != 0 {
		t.Fatalf("%d SYN retransmissions: the handshake should have gone through", syn)
	}
	f.waitFor(t, "orb8_tcp_retransmits_total", client, float64(retrans))
	f.waitFor(t, "orb8_tcp_retransmits_total", server, 0)
	f.waitFor(t, "orb8_network_bytes_total", client, 1000, "protocol", "tcp", "direction", "tx")
}

// A SYN to a black hole is retransmitted until TCP_SYNCNT (1) runs out, then
// connect() fails with ETIMEDOUT.
func TestRetransmitsToBlackHole(t *testing.T) {
	f := start(t)
	ns, path := newNetns(t, "blackhole")
	// Both ends of the pair in one namespace; frames for the neighbour's
	// made-up MAC arrive on o8b, which has no address, and are dropped.
	ipCmd(t, "-n", ns, "link", "add", "o8a", "type", "veth", "peer", "name", "o8b")
	ipCmd(t, "-n", ns, "addr", "add", blackHoleNet, "dev", "o8a")
	ipCmd(t, "-n", ns, "link", "set", "o8a", "up")
	ipCmd(t, "-n", ns, "link", "set", "o8b", "up")
	ipCmd(t, "-n", ns, "neigh", "add", blackHole, "lladdr", "02:00:00:00:00:01", "dev", "o8a", "nud", "permanent")

	cg := testutil.NewCgroup(t)
	sub := f.subscribe(t, cg)
	p := startPeer(t, cg, path, "connect", blackHole+":80", "1")
	if got := p.line(); got != "errno 110" {
		t.Fatalf("connect to a black hole: %s, want ETIMEDOUT", got)
	}
	// The namespace's own counters: every retransmission in it is ours, and all are SYNs.
	retrans, synRetrans := snmp(t, ns, "/proc/net/snmp", "Tcp", "RetransSegs"), snmp(t, ns, "/proc/net/netstat", "TcpExt", "TCPSynRetrans")
	if retrans < 1 || synRetrans != retrans {
		t.Fatalf("namespace counted %d retransmissions, %d of SYNs", retrans, synRetrans)
	}
	f.waitFor(t, "orb8_tcp_retransmits_total", cg, float64(retrans))
	f.waitFor(t, "orb8_tcp_connections_total", cg, 1, "direction", "outbound", "result", "failed")
	e := nextTCP(t, sub, "failed")
	if e.Reason != "timeout" || e.Remote.String() != blackHole+":80" || e.NetNS != nsInode(t, path) {
		t.Errorf("failed event %+v", e)
	}
}
