package http

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/orb8/orb8/internal/testutil"
)

// serviceNode is a test's node and pod network namespaces joined by a veth
// pair: the pod's packets to Service are translated in the node's
// PREROUTING chain, as kube-proxy translates a ClusterIP, after they left
// the pod's namespace (where the client's cgroup_skb program saw them).
type serviceNode struct {
	node, pod string         // namespace names
	nodeAddr  netip.Addr     // the node's end of the veth, where the server listens
	service   netip.AddrPort // translated to the server
}

var serviceNodes atomic.Int32

func newServiceNode(t *testing.T) *serviceNode {
	t.Helper()
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Fatalf("needs iptables (make test installs it): %v", err)
	}
	n := fmt.Sprintf("%d-%d", os.Getpid()%100000, serviceNodes.Add(1))
	s := &serviceNode{
		node: "orb8-node-" + n, pod: "orb8-pod-" + n,
		nodeAddr: netip.MustParseAddr("198.18.9.1"), service: netip.MustParseAddrPort("198.19.9.10:80"),
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{s.node, s.pod} {
		run("ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		run("ip", "-n", ns, "link", "set", "lo", "up")
	}
	run("ip", "-n", s.node, "link", "add", "o8n", "type", "veth", "peer", "name", "o8p", "netns", s.pod)
	run("ip", "-n", s.node, "addr", "add", s.nodeAddr.String()+"/24", "dev", "o8n")
	run("ip", "-n", s.pod, "addr", "add", "198.18.9.2/24", "dev", "o8p")
	run("ip", "-n", s.node, "link", "set", "o8n", "up")
	run("ip", "-n", s.pod, "link", "set", "o8p", "up")
	run("ip", "-n", s.pod, "route", "add", "default", "via", s.nodeAddr.String())
	return s
}

// translate sends the pod's connections to Service to the node's port.
func (s *serviceNode) translate(t *testing.T, port string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", s.node, "iptables", "-t", "nat", "-A", "PREROUTING", "-p", "tcp",
		"-d", s.service.Addr().String(), "--dport", fmt.Sprint(s.service.Port()),
		"-j", "DNAT", "--to-destination", s.nodeAddr.String()+":"+port)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("DNAT: %v: %s", err, out)
	}
}

// in makes cmd run in the namespace.
func in(ns string, cmd *exec.Cmd) *exec.Cmd {
	ip, _ := exec.LookPath("ip")
	cmd.Args = append([]string{"ip", "netns", "exec", ns}, cmd.Args...)
	cmd.Path = ip
	return cmd
}

// A client in a pod that calls a Service, whose connection the node
// translates to a server on the node: each server span is the child of the
// client span of its request, linked through the node's conntrack table.
func TestSpansLinkedThroughAService(t *testing.T) {
	f := start(t)
	s := newServiceNode(t)
	nodeNS, err := os.Open("/run/netns/" + s.node)
	if err != nil {
		t.Fatal(err)
	}
	defer nodeNS.Close()
	f.probe.nat.NetNS = int(nodeNS.Fd())

	serve := in(s.node, f.server.Helper(t, "serve"))
	serve.Env = append(serve.Env, hostEnv+"="+s.nodeAddr.String())
	serverPort := port(t, testutil.StartPiped(t, serve))
	s.translate(t, serverPort)

	sides := f.subscribeSides(t)
	const requests = 5
	client := in(s.pod, f.client.Helper(t, "client", fmt.Sprint(s.service.Port()), fmt.Sprint(requests), "0", "GET"))
	client.Env = append(client.Env, hostEnv+"="+s.service.Addr().String())
	var out bytes.Buffer
	client.Stdout = &out
	if err := client.Run(); err != nil || out.String() != "done\n" {
		t.Fatalf("client: %v, said %q", err, out.String())
	}

	clients, servers := receive(t, sides["client"], requests), receive(t, sides["server"], requests)
	for i := range requests {
		c, srv := clients[i].HTTP, servers[i].HTTP
		if c.Peer != s.service {
			t.Errorf("client request %d went to %s, want the Service %s", i, c.Peer, s.service)
		}
		if srv.TraceID != c.TraceID || srv.ParentSpanID != c.SpanID || !c.SpanID.IsValid() {
			t.Errorf("request %d: server span %s/%s (parent %s), client span %s/%s: want the server a child of the client",
				i, srv.TraceID, srv.SpanID, srv.ParentSpanID, c.TraceID, c.SpanID)
		}
	}
}
