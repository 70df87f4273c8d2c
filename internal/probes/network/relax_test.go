package network

import (
	"strconv"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

// TestRelaxedWakeupsWhileNobodyWatches: with nobody watching tcp events the
// kernel wakes the ring's reader at most every 8-32 ms, not every 4 ms, yet a
// flow listing holds every connection closed before it, a lone record after
// a quiet spell still wakes the reader, and a watcher brings 4 ms back.
func TestRelaxedWakeupsWhileNobodyWatches(t *testing.T) {
	const conns = 200
	f := start(t)
	wakeup := func() time.Duration {
		var ns uint64
		if err := f.probe.bpf.Orb8WakeupNs.Get(&ns); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ns)
	}
	if w := wakeup(); w != 4*time.Millisecond {
		t.Fatalf("kernel wakeup interval at start %v, want 4ms", w)
	}
	addr := testutil.AcceptAll(t)
	client := testutil.NewCgroup(t)
	if err := client.Helper(t, "connect-many", addr.String(), strconv.Itoa(conns)).Run(); err != nil {
		t.Fatal(err)
	}
	// Every close record is in the ring once the kernel holds no entry of
	// the client's sockets (destroy submits it, then deletes the entry).
	testutil.Eventually(t, 5*time.Second, func() bool {
		left := 0
		probe.ForEach(f.probe.bpf.Conns, func(_ uint64, c *networkConn) {
			if c.CgroupId == client.ID {
				left++
			}
		})
		return left == 0
	}, "the client's sockets destroyed")
	closed, err := f.flowsOf(client.Path, "CLOSE")
	if err != nil || len(closed) != conns {
		t.Errorf("closed flows listed right after the last close: %d, %v; want %d", len(closed), err, conns)
	}
	if w := wakeup(); w <= 4*time.Millisecond { // 32 ms unless the storm came fast enough to fill the ring's quarter
		t.Errorf("kernel wakeup interval after %d connections nobody watched: %v, want more than 4ms", conns, w)
	}

	// A quiet spell just over the longest relaxed poll (32 ms), so that the
	// reader has gone idle, then one connection: its close record alone must
	// wake the reader (no listing reads the ring for it here). A kernel
	// interval longer than the gap (the spell and the helper's start, tens
	// of ms) would leave it in the ring.
	time.Sleep(40 * time.Millisecond)
	if err := client.Helper(t, "connect-many", addr.String(), "1").Run(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 2*time.Second, func() bool {
		return len(selectFlows(f.probe.flows.list(), client.Path, "CLOSE")) == conns+1
	}, "the lone connection's close record read without a listing")

	watch := f.subscribe(t, client)
	if err := client.Helper(t, "connect-many", addr.String(), "1").Run(); err != nil {
		t.Fatal(err)
	}
	nextTCP(t, watch, "close")
	testutil.Eventually(t, 2*time.Second, func() bool { return wakeup() == 4*time.Millisecond },
		"kernel wakeup interval back to 4ms with a watcher: %v", wakeup())
}
