package network

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

type fixture struct {
	probe *Probe
	reg   *prometheus.Registry
	bus   *events.Bus
}

func start(t *testing.T) *fixture {
	t.Helper()
	testutil.RequireRoot(t)
	root, err := cgroup.FindMount()
	if err != nil {
		t.Fatal(err)
	}
	res, err := cgroup.NewResolver(root, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	f := &fixture{probe: New(DefaultFlowTableSize), reg: prometheus.NewPedanticRegistry(), bus: events.NewBus()}
	env := probe.Env{Resolver: res, Events: f.bus, Log: slog.Default(), CgroupRoot: root}
	if err := f.probe.Start(context.Background(), env); err != nil {
		t.Fatalf("start network probe: %v", err)
	}
	t.Cleanup(func() { f.probe.Close() })
	for prog, err := range f.probe.Objects().Failed {
		t.Errorf("program %s did not load: %v", prog, err)
	}
	f.reg.MustRegister(testutil.Collector(t, f.probe))
	return f
}

// eachFlowIter runs check on the live flows of cg in state as each attached
// flow iterator lists them on its own, not merged into the flow table with
// what events said. The walk over the connection table must be among them:
// it needs no map-element iterator, and it loads on every kernel build met
// so far (docs/design.md).
func (f *fixture) eachFlowIter(t *testing.T, cg *testutil.Cgroup, state string, check func(t *testing.T, flows []Flow)) {
	t.Helper()
	var walked bool
	for _, it := range f.probe.iters {
		walked = walked || it.prog == networkProgWalkFlows
		t.Run(it.prog, func(t *testing.T) {
			f.probe.mu.Lock()
			live, err := f.probe.readLive(it.link)
			f.probe.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			check(t, selectFlows(live, cg.Path, state))
		})
	}
	if !walked {
		t.Errorf("flow iterators attached: %v; the walk is missing", f.probe.iters)
	}
}

// flowsOf is what Flows lists of one cgroup, in one state (any when empty).
func (f *fixture) flowsOf(cgroupPath, state string) ([]Flow, error) {
	flows, err := f.probe.Flows(nil)
	return selectFlows(flows, cgroupPath, state), err
}

// selectFlows keeps the flows of one cgroup in one state (any when empty).
func selectFlows(flows []Flow, cgroupPath, state string) []Flow {
	var out []Flow
	for _, fl := range flows {
		if fl.Workload.Path == cgroupPath && (state == "" || fl.State == state) {
			out = append(out, fl)
		}
	}
	return out
}

// subscribe collects the tcp events of one cgroup.
func (f *fixture) subscribe(t *testing.T, cg *testutil.Cgroup) *events.Subscription {
	sub := f.bus.Subscribe(1024, nil, func(e *events.Event) bool { return e.Kind == events.KindTCP && e.Workload.Path == cg.Path })
	t.Cleanup(func() { f.bus.Unsubscribe(sub) })
	return sub
}

// nextTCP waits for the subscription's next tcp event of the given kind.
func nextTCP(t *testing.T, sub *events.Subscription, kind string) *events.TCP {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-sub.C:
			if e.TCP.Event == kind {
				return e.TCP
			}
		case <-deadline:
			t.Fatalf("no tcp %s event", kind)
		}
	}
}

func (f *fixture) value(t *testing.T, name string, cg *testutil.Cgroup, labels ...string) float64 {
	t.Helper()
	v, _ := testutil.Sample(t, f.reg, name, selector(cg, labels...))
	return v
}

func selector(cg *testutil.Cgroup, labels ...string) map[string]string {
	want := map[string]string{"cgroup": cg.Path}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	return want
}

// waitFor polls until metric name{cgroup, labels...} equals want.
func (f *fixture) waitFor(t *testing.T, name string, cg *testutil.Cgroup, want float64, labels ...string) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, func() bool { return f.value(t, name, cg, labels...) == want },
		"%s%v = %v, want %v; series: %s", name, selector(cg, labels...), f.value(t, name, cg, labels...), want,
		testutil.Series(t, f.reg, name))
}

const (
	clientPayload = 1_000_000
	serverReply   = 1_000
)

// exchange runs one TCP conversation: a client in one cgroup sends exactly
// clientPayload bytes to a server in another, which answers serverReply bytes.
// It returns what both helpers report once closed.
func exchange(t *testing.T, client, server *testutil.Cgroup, clientNS, serverNS string, listen netip.Addr, mode string) (c, s report, port uint16) {
	t.Helper()
	srv := startPeer(t, server, serverNS, "serve", netip.AddrPortFrom(listen, 0).String(), mode, strconv.Itoa(serverReply))
	port = srv.port()
	cli := startPeer(t, client, clientNS, "send", netip.AddrPortFrom(listen, port).String(), mode, strconv.Itoa(clientPayload))
	c, s = cli.report(), srv.report()
	cli.wait()
	srv.wait()
	if c.Tx != clientPayload || s.Rx != clientPayload || s.Tx != serverReply || c.Rx != serverReply {
		t.Fatalf("helpers moved client %d/%d, server %d/%d bytes", c.Tx, c.Rx, s.Tx, s.Rx)
	}
	return c, s, port
}

// checkExchange asserts the exact counts of one exchange on both cgroups,
// and the events and flow of the client's connection.
func (f *fixture) checkExchange(t *testing.T, client, server *testutil.Cgroup, c, s report, clientEvents, serverEvents *events.Subscription) {
	t.Helper()
	for _, side := range []struct {
		cg     *testutil.Cgroup
		r      report
		dir    string
		tx, rx float64
	}{{client, c, "outbound", clientPayload, serverReply}, {server, s, "inbound", serverReply, clientPayload}} {
		f.waitFor(t, "orb8_network_bytes_total", side.cg, side.tx, "protocol", "tcp", "direction", "tx")
		f.waitFor(t, "orb8_network_bytes_total", side.cg, side.rx, "protocol", "tcp", "direction", "rx")
		// Packets are data segments: exactly what the kernel's tcp_info counted for the socket.
		f.waitFor(t, "orb8_network_packets_total", side.cg, float64(side.r.DataSegsOut), "protocol", "tcp", "direction", "tx")
		f.waitFor(t, "orb8_network_packets_total", side.cg, float64(side.r.DataSegsIn), "protocol", "tcp", "direction", "rx")
		f.waitFor(t, "orb8_network_bytes_total", side.cg, 0, "protocol", "udp", "direction", "tx")
		f.waitFor(t, "orb8_tcp_connections_total", side.cg, 1, "direction", side.dir, "result", "ok")
		for _, dir := range []string{"outbound", "inbound"} {
			f.waitFor(t, "orb8_tcp_connections_total", side.cg, 0, "direction", dir, "result", "failed")
		}
		f.waitFor(t, "orb8_tcp_active_connections", side.cg, 0)
	}
	f.waitFor(t, "orb8_tcp_connections_total", client, 0, "direction", "inbound", "result", "ok")
	f.waitFor(t, "orb8_tcp_connections_total", server, 0, "direction", "outbound", "result", "ok")
	f.waitFor(t, "orb8_tcp_state_transitions_total", client, 1, "state", "SYN_SENT")
	f.waitFor(t, "orb8_tcp_state_transitions_total", client, 1, "state", "ESTABLISHED")
	f.waitFor(t, "orb8_tcp_state_transitions_total", client, 1, "state", "CLOSE")
	f.waitFor(t, "orb8_tcp_state_transitions_total", server, 1, "state", "LISTEN")
	if n := f.value(t, "orb8_tcp_rtt_seconds", client); n == 0 {
		t.Errorf("no RTT samples for the client")
	}
	for _, l := range []string{"namespace", "pod", "container"} {
		if _, ok := testutil.Sample(t, f.reg, "orb8_network_bytes_total", map[string]string{"cgroup": client.Path, l: ""}); !ok {
			t.Errorf("label %s missing or not empty outside Kubernetes", l)
		}
	}

	// One open and one close event per side, the close with the exact totals.
	for _, side := range []struct {
		sub           *events.Subscription
		r             report
		dir           string
		tx, rx        uint64
		segsTx, segRx uint32
	}{{clientEvents, c, "outbound", clientPayload, serverReply, c.DataSegsOut, c.DataSegsIn},
		{serverEvents, s, "inbound", serverReply, clientPayload, s.DataSegsOut, s.DataSegsIn}} {
		open := nextTCP(t, side.sub, "open")
		end := nextTCP(t, side.sub, "close")
		for _, e := range []*events.TCP{open, end} {
			if e.Direction != side.dir || e.Local.String() != side.r.Local || e.Remote.String() != side.r.Remote || e.Cookie != open.Cookie {
				t.Errorf("%s event %+v, want %s %s -> %s", e.Event, e, side.dir, side.r.Local, side.r.Remote)
			}
		}
		if end.TxBytes != side.tx || end.RxBytes != side.rx || end.TxPackets != uint64(side.segsTx) || end.RxPackets != uint64(side.segRx) ||
			end.Result != "ok" || end.Reason != "" || end.Duration <= 0 {
			t.Errorf("close event %+v, want %d/%d bytes, %d/%d packets", end, side.tx, side.rx, side.segsTx, side.segRx)
		}
	}

	// The flow table holds both ends of the ended connection, with the peer's
	// address and the process that used each socket.
	for _, side := range []struct {
		cg     *testutil.Cgroup
		r      report
		dir    string
		tx, rx uint64
	}{{client, c, "outbound", clientPayload, serverReply}, {server, s, "inbound", serverReply, clientPayload}} {
		flows, err := f.flowsOf(side.cg.Path, "")
		if err != nil || len(flows) != 1 {
			t.Fatalf("flows of %s: %+v, %v", side.dir, flows, err)
		}
		fl := flows[0]
		if fl.Remote.String() != side.r.Remote || fl.Local.String() != side.r.Local || fl.Direction != side.dir || fl.State != "CLOSE" ||
			fl.TxBytes != side.tx || fl.RxBytes != side.rx || fl.Protocol != "tcp" || !fl.LastSeen.After(fl.FirstSeen) ||
			fl.Process.PID != uint32(side.r.PID) || fl.Process.Comm != "network.test" || fl.RTT <= 0 {
			t.Errorf("%s flow %+v", side.dir, fl)
		}
		// Retransmissions happen even on a loaded loopback; the workload's
		// count is the connection's own (the client has no other socket).
		if side.dir == "outbound" {
			f.waitFor(t, "orb8_tcp_retransmits_total", side.cg, float64(fl.Retransmits))
		}
	}
	// The same through the view of the table the API gets.
	flows, err := f.probe.Flows(nil)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, fl := range flows {
		found = found || fl.Workload.Path == client.Path && fl.TxBytes == clientPayload && fl.Remote.String() == c.Remote
	}
	if !found {
		t.Errorf("client flow missing from the API's flows")
	}
}

func TestTCPLoopbackExactPayload(t *testing.T) {
	f := start(t)
	for _, tc := range []struct{ addr, mode string }{
		{"127.0.0.1", "copy"}, {"::1", "copy"},
		// sendfile(2) into the socket and splice(2) out of it.
		{"127.0.0.1", "splice"}, {"::1", "splice"},
	} {
		t.Run(tc.addr+"/"+tc.mode, func(t *testing.T) {
			client, server := testutil.NewCgroup(t), testutil.NewCgroup(t)
			ce, se := f.subscribe(t, client), f.subscribe(t, server)
			c, s, _ := exchange(t, client, server, "", "", netip.MustParseAddr(tc.addr), tc.mode)
			f.checkExchange(t, client, server, c, s, ce, se)
		})
	}
}

func TestTCPRefusedAndAccepted(t *testing.T) {
	f := start(t)
	refused, client, server := testutil.NewCgroup(t), testutil.NewCgroup(t), testutil.NewCgroup(t)
	failures := f.subscribe(t, refused)

	// A port nobody listens on: bound and never listened, so nothing else takes it meanwhile.
	port := boundPort(t)
	p := startPeer(t, refused, "", "connect", fmt.Sprintf("127.0.0.1:%d", port), "0")
	if got := p.line(); got != "errno 111" {
		t.Fatalf("connect to a closed port: %s, want ECONNREFUSED", got)
	}
	f.waitFor(t, "orb8_tcp_connections_total", refused, 1, "direction", "outbound", "result", "failed")
	f.waitFor(t, "orb8_tcp_connections_total", refused, 0, "direction", "outbound", "result", "ok")
	f.waitFor(t, "orb8_tcp_active_connections", refused, 0)
	e := nextTCP(t, failures, "failed")
	if e.Result != "failed" || e.Reason != "refused" || e.Direction != "outbound" || e.Remote.Port() != port {
		t.Errorf("failed event %+v", e)
	}

	// An accepted connection, held open: active on both sides until the
	// client resets it.
	serverEvents := f.subscribe(t, server)
	srv := startPeer(t, server, "", "stream", "127.0.0.1:0", "copy", "0", "0")
	cli := startPeer(t, client, "", "stream", fmt.Sprintf("127.0.0.1:%d", srv.port()), "copy", "0", "0")
	cli.report()
	srv.report()
	f.waitFor(t, "orb8_tcp_connections_total", server, 1, "direction", "inbound", "result", "ok")
	f.waitFor(t, "orb8_tcp_connections_total", client, 1, "direction", "outbound", "result", "ok")
	f.waitFor(t, "orb8_tcp_active_connections", server, 1)
	f.waitFor(t, "orb8_tcp_active_connections", client, 1)
	open, err := f.flowsOf(client.Path, "ESTABLISHED")
	if err != nil || len(open) != 1 || open[0].Direction != "outbound" {
		t.Fatalf("open flows of the client: %+v, %v", open, err)
	}
	f.eachFlowIter(t, client, "ESTABLISHED", func(t *testing.T, flows []Flow) {
		if len(flows) != 1 || flows[0].Direction != "outbound" || flows[0].Cookie != open[0].Cookie {
			t.Errorf("live flows of the client: %+v, want the one of cookie %d", flows, open[0].Cookie)
		}
	})
	fmt.Fprintln(cli.stdin, "abort")
	cli.wait()
	f.waitFor(t, "orb8_tcp_active_connections", server, 0)
	f.waitFor(t, "orb8_tcp_active_connections", client, 0)
	srv.stdin.Close() // the server's socket is released now: its close event follows
	srv.wait()
	nextTCP(t, serverEvents, "open")
	if e := nextTCP(t, serverEvents, "close"); e.Result != "failed" || e.Reason != "reset" || e.Direction != "inbound" {
		t.Errorf("close event of the reset connection: %+v", e)
	}
	f.waitFor(t, "orb8_tcp_connections_total", server, 0, "direction", "inbound", "result", "failed")
	f.waitFor(t, "orb8_tcp_connections_total", server, 1, "direction", "inbound", "result", "ok")
}

// TestOpenRecordsOnlyWhileWatched: a connection's open record reaches user
// space only while someone watches tcp events; the flow walk lists the
// open connection, and its close record ends it in the flow table.
func TestOpenRecordsOnlyWhileWatched(t *testing.T) {
	f := start(t)
	server, client := testutil.NewCgroup(t), testutil.NewCgroup(t)
	connect := func() (srv, cli *peer, local string) {
		srv = startPeer(t, server, "", "stream", "127.0.0.1:0", "copy", "0", "0")
		cli = startPeer(t, client, "", "stream", fmt.Sprintf("127.0.0.1:%d", srv.port()), "copy", "0", "0")
		r := cli.report()
		srv.report()
		return srv, cli, r.Local
	}
	// What the ring put into the flow table: no scrape or listing (which
	// walk the open sockets) before it is read.
	recorded := func() (locals []string) {
		for _, fl := range selectFlows(f.probe.flows.list(), client.Path, "") {
			locals = append(locals, fl.Local.String())
		}
		return locals
	}
	gate := func() uint32 {
		var on uint32
		if err := f.probe.bpf.Orb8Emit.Lookup(uint32(0), &on); err != nil {
			t.Fatal(err)
		}
		return on
	}
	const open = 1 << networkEventKindEVENT_OPEN

	if g := gate(); g != 0 {
		t.Errorf("nobody watching: gate %#x", g)
	}
	srvA, cliA, a := connect() // its handshake is done once the helpers report
	watch := f.subscribe(t, client)
	if g := gate(); g != open {
		t.Errorf("tcp events watched: gate %#x, want %#x", g, open)
	}
	srvB, cliB, b := connect()
	// Records are read in order: once B's open event is here, an open
	// record of A would have been read before it.
	if e := nextTCP(t, watch, "open"); e.Local.String() != b {
		t.Fatalf("first open event %+v, want the one of %s (the watched connection)", e, b)
	}
	if got := recorded(); len(got) != 1 || got[0] != b {
		t.Errorf("flows from records: %v, want only %s (%s opened while nobody watched)", got, b, a)
	}
	listed, err := f.flowsOf(client.Path, "ESTABLISHED")
	if err != nil || len(listed) != 2 {
		t.Fatalf("open flows after the walk: %+v, %v; want %s and %s", listed, err, a, b)
	}
	f.bus.Unsubscribe(watch)
	if g := gate(); g != 0 {
		t.Errorf("the watcher left: gate %#x", g)
	}
	for _, p := range []*peer{cliA, srvA, cliB, srvB} {
		p.stdin.Close()
		p.wait()
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		closed, _ := f.flowsOf(client.Path, "CLOSE")
		return len(closed) == 2
	}, "both connections closed in the flow table")
}

// Payload is counted while connections are open, not only when they close:
// a scrape walks the open sockets and takes what they moved, whether
// through write(2), sendfile(2), read(2) or splice(2).
func TestTCPCountsOpenConnections(t *testing.T) {
	f := start(t)
	for _, tc := range []struct {
		mode  string
		netns bool
	}{
		{"copy", false}, {"splice", false},
		// Another network namespace's loopback: the flow iterators list every namespace's sockets.
		{"copy", true},
	} {
		name := tc.mode
		if tc.netns {
			name = "netns"
		}
		t.Run(name, func(t *testing.T) {
			var nsPath string
			if tc.netns {
				_, nsPath = newNetns(t, "open")
			}
			client, server := testutil.NewCgroup(t), testutil.NewCgroup(t)
			const up, down = 300_000, 7_000
			srv := startPeer(t, server, nsPath, "stream", "127.0.0.1:0", tc.mode, strconv.Itoa(down), strconv.Itoa(up))
			cli := startPeer(t, client, nsPath, "stream", fmt.Sprintf("127.0.0.1:%d", srv.port()), tc.mode, strconv.Itoa(up), strconv.Itoa(down))
			c, s := cli.report(), srv.report()
			if c.Tx != up || s.Rx != up || s.Tx != down || c.Rx != down {
				t.Fatalf("helpers moved client %d/%d, server %d/%d bytes", c.Tx, c.Rx, s.Tx, s.Rx)
			}
			f.waitFor(t, "orb8_network_bytes_total", client, up, "protocol", "tcp", "direction", "tx")
			f.waitFor(t, "orb8_network_bytes_total", client, down, "protocol", "tcp", "direction", "rx")
			f.waitFor(t, "orb8_network_bytes_total", server, down, "protocol", "tcp", "direction", "tx")
			f.waitFor(t, "orb8_network_bytes_total", server, up, "protocol", "tcp", "direction", "rx")
			f.waitFor(t, "orb8_tcp_active_connections", client, 1)
			flows, err := f.flowsOf(server.Path, "ESTABLISHED")
			if err != nil || len(flows) != 1 || flows[0].RxBytes != up || flows[0].TxBytes != down || flows[0].Direction != "inbound" {
				t.Fatalf("open server flows %+v, %v", flows, err)
			}
			netns := flows[0].NetNS
			if tc.netns && netns != nsInode(t, nsPath) {
				t.Errorf("server flow in network namespace %d, want %d", netns, nsInode(t, nsPath))
			}
			for _, side := range []struct {
				cg     *testutil.Cgroup
				dir    string
				tx, rx uint64
			}{{client, "outbound", up, down}, {server, "inbound", down, up}} {
				t.Run(side.dir, func(t *testing.T) {
					f.eachFlowIter(t, side.cg, "ESTABLISHED", func(t *testing.T, flows []Flow) {
						if len(flows) != 1 || flows[0].TxBytes != side.tx || flows[0].RxBytes != side.rx ||
							flows[0].Direction != side.dir || flows[0].NetNS != netns {
							t.Errorf("live flows %+v, want one with %d/%d bytes in network namespace %d", flows, side.tx, side.rx, netns)
						}
					})
				})
			}
			cli.stdin.Close()
			srv.stdin.Close()
			cli.wait()
			srv.wait()
			f.waitFor(t, "orb8_tcp_active_connections", client, 0)
			f.waitFor(t, "orb8_network_bytes_total", client, up, "protocol", "tcp", "direction", "tx")
			f.waitFor(t, "orb8_network_bytes_total", server, up, "protocol", "tcp", "direction", "rx")
		})
	}
}

// boundPort reserves a loopback TCP port that refuses connections.
func boundPort(t *testing.T) uint16 {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return addrPort(sa).Port()
}

func TestUDPExactPayload(t *testing.T) {
	f := start(t)
	for _, addr := range []string{"127.0.0.1", "::1"} {
		t.Run(addr, func(t *testing.T) {
			client, server := testutil.NewCgroup(t), testutil.NewCgroup(t)
			// Ping-pong, so no datagram is lost to a full socket buffer.
			const datagrams, size, reply = 100, 10_000, 10
			ip := netip.MustParseAddr(addr)
			srv := startPeer(t, server, "", "udp-echo", netip.AddrPortFrom(ip, 0).String(), strconv.Itoa(datagrams), strconv.Itoa(reply))
			port := srv.port()
			cli := startPeer(t, client, "", "udp-send", netip.AddrPortFrom(ip, port).String(),
				strconv.Itoa(datagrams), strconv.Itoa(size))
			cli.wait()
			srv.wait()
			f.waitFor(t, "orb8_network_bytes_total", client, datagrams*size, "protocol", "udp", "direction", "tx")
			f.waitFor(t, "orb8_network_bytes_total", client, datagrams*reply, "protocol", "udp", "direction", "rx")
			f.waitFor(t, "orb8_network_bytes_total", server, datagrams*size, "protocol", "udp", "direction", "rx")
			f.waitFor(t, "orb8_network_bytes_total", server, datagrams*reply, "protocol", "udp", "direction", "tx")
			for _, cg := range []*testutil.Cgroup{client, server} {
				f.waitFor(t, "orb8_network_packets_total", cg, datagrams, "protocol", "udp", "direction", "tx")
				f.waitFor(t, "orb8_network_packets_total", cg, datagrams, "protocol", "udp", "direction", "rx")
				f.waitFor(t, "orb8_network_bytes_total", cg, 0, "protocol", "tcp", "direction", "tx")
			}
		})
	}
}

func TestForgetDropsKernelState(t *testing.T) {
	f := start(t)
	client, server := testutil.NewCgroup(t), testutil.NewCgroup(t)
	exchange(t, client, server, "", "", netip.MustParseAddr("127.0.0.1"), "copy")
	f.waitFor(t, "orb8_network_bytes_total", client, clientPayload, "protocol", "tcp", "direction", "tx")
	if err := f.probe.Objects().Forget([]uint64{client.ID}); err != nil {
		t.Fatal(err)
	}
	if _, ok := testutil.Sample(t, f.reg, "orb8_network_bytes_total", map[string]string{"cgroup": client.Path}); ok {
		t.Fatalf("series of a forgotten cgroup still exported")
	}
}
