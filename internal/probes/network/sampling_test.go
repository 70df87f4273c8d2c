package network

import (
	"strconv"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

// TestSampledConnectionRecords: at sampling rate 4 about a quarter of the
// connections reach user space, each with both its open and its close
// record, while the kernel's counts stay exact.
func TestSampledConnectionRecords(t *testing.T) {
	const conns, rate = 256, 4
	f := start(t)
	if err := f.probe.SetSampleRate(rate); err != nil {
		t.Fatal(err)
	}
	addr := testutil.AcceptAll(t)
	client := testutil.NewCgroup(t)
	events := f.subscribe(t, client)
	cmd := client.Helper(t, "connect-many", addr.String(), strconv.Itoa(conns))
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, "orb8_tcp_connections_total", client, conns, "direction", "outbound", "result", "ok")

	opened, closed := map[uint64]bool{}, map[uint64]bool{}
	for done := time.After(2 * time.Second); ; {
		select {
		case e := <-events.C:
			switch e.TCP.Event {
			case "open":
				opened[e.TCP.Cookie] = true
			case "close":
				closed[e.TCP.Cookie] = true
			}
			continue
		case <-done:
		}
		break
	}
	// Binomial(256, 1/4): 64 +- 6.9; 30 to 100 is five deviations out.
	if len(opened) < 30 || len(opened) > 100 {
		t.Errorf("%d of %d connections reached user space at rate %d", len(opened), conns, rate)
	}
	for cookie := range opened {
		if !closed[cookie] {
			t.Errorf("connection %d: open record kept, close record shed", cookie)
		}
	}
	if len(closed) != len(opened) {
		t.Errorf("%d close records for %d open ones", len(closed), len(opened))
	}
	flows, err := f.flowsOf(client.Path, "")
	if err != nil || len(flows) != len(opened) {
		t.Errorf("%d flows listed for %d connections kept: %v", len(flows), len(opened), err)
	}
	if f.probe.SampleRate() != rate {
		t.Errorf("SampleRate() = %d, want %d", f.probe.SampleRate(), rate)
	}
	for _, bad := range []uint32{0, 3, 2048} {
		if err := f.probe.SetSampleRate(bad); err == nil {
			t.Errorf("SetSampleRate(%d) accepted", bad)
		}
	}
}

// TestLearnPeersBypassesShedding: at the coarsest sampling, with
// LearnPeers, the first connection of a workload to each peer still
// reaches user space as an open event: behaviour profiles see every peer.
func TestLearnPeersBypassesShedding(t *testing.T) {
	const conns = 32
	f := start(t)
	if err := f.probe.SetSampleRate(1024); err != nil {
		t.Fatal(err)
	}
	if err := f.probe.LearnPeers(); err != nil {
		t.Fatal(err)
	}
	peers := []string{testutil.AcceptAll(t).String(), testutil.AcceptAll(t).String()}
	client := testutil.NewCgroup(t)
	events := f.subscribe(t, client)
	for _, peer := range peers {
		if err := client.Helper(t, "connect-many", peer, strconv.Itoa(conns)).Run(); err != nil {
			t.Fatal(err)
		}
	}
	f.waitFor(t, "orb8_tcp_connections_total", client, 2*conns, "direction", "outbound", "result", "ok")
	opened := map[string]int{}
	for done := time.After(2 * time.Second); ; {
		select {
		case e := <-events.C:
			if e.TCP.Event == "open" {
				opened[e.TCP.Remote.String()]++
			}
			continue
		case <-done:
		}
		break
	}
	for _, peer := range peers {
		// The first, and a rare one the sampling keeps (1 in 1024).
		if n := opened[peer]; n < 1 || n > 3 {
			t.Errorf("%d open events for peer %s, want its first (and rarely one more)", n, peer)
		}
	}
}
