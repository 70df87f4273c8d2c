package testutil

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// NATNamespace is a network namespace of a test (RFC 2544 benchmarking
// addresses on its loopback) whose OUTPUT chain translates connections to
// Service (a virtual address, as a Kubernetes ClusterIP is) to Backend.
type NATNamespace struct {
	File    *os.File       // the namespace, open
	Service netip.AddrPort // translated
	Backend netip.AddrPort // where Service's connections go
	Client  netip.Addr     // another local address, to connect from
}

var natNamespaces atomic.Int32

// NewNATNamespace makes a NATNamespace, removed after the test. It needs
// root, ip(8) and iptables(8).
func NewNATNamespace(t *testing.T) *NATNamespace {
	t.Helper()
	RequireRoot(t)
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	n := &NATNamespace{
		Service: netip.MustParseAddrPort("198.18.7.1:80"),
		Backend: netip.MustParseAddrPort("198.18.7.2:8080"),
		Client:  netip.MustParseAddr("198.18.7.3"),
	}
	name := fmt.Sprintf("orb8-nat-%d-%d", os.Getpid(), natNamespaces.Add(1))
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	run("ip", "-n", name, "link", "set", "lo", "up")
	// The /24 routes Service's address too, so that a socket can connect to
	// it before OUTPUT translates it.
	run("ip", "-n", name, "addr", "add", n.Backend.Addr().String()+"/24", "dev", "lo")
	run("ip", "-n", name, "addr", "add", n.Client.String()+"/32", "dev", "lo")
	run("ip", "netns", "exec", name, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp",
		"-d", n.Service.Addr().String(), "--dport", fmt.Sprint(n.Service.Port()),
		"-j", "DNAT", "--to-destination", n.Backend.String())
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	n.File = f
	return n
}

// Do runs f on a thread in the namespace: sockets it makes stay there.
func (n *NATNamespace) Do(t *testing.T, f func()) {
	t.Helper()
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	if err := unix.Setns(int(n.File.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	f()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatalf("back to the test's namespace: %v (the thread stays locked and ends)", err)
	}
	runtime.UnlockOSThread()
}

// Connect makes one TCP connection from Client to to (Service, or Backend
// itself) and returns both ends, closed after the test.
func (n *NATNamespace) Connect(t *testing.T, to netip.AddrPort) (client, server net.Conn) {
	t.Helper()
	var ln net.Listener
	var err error
	n.Do(t, func() {
		if ln, err = net.Listen("tcp", n.Backend.String()); err != nil {
			return
		}
		dialer := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(n.Client, 0))}
		client, err = dialer.Dial("tcp", to.String())
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Cleanup(func() { client.Close() })
	if server, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}
