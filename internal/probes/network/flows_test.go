package network

import (
	"net/netip"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
)

func flowAt(cookie uint64, first time.Time, tx uint64, final bool) *Flow {
	return &Flow{Cookie: cookie, FirstSeen: first, LastSeen: first.Add(time.Second), Traffic: events.Traffic{TxBytes: tx}, State: "ESTABLISHED", final: final,
		Workload: cgroup.Workload{Path: "/a"}, Remote: netip.MustParseAddrPort("10.0.0.1:443")}
}

func TestFlowTableEvictsLeastRecentlyUpdated(t *testing.T) {
	tab := newFlowTable(2)
	t0 := time.Unix(1000, 0)
	tab.put(flowAt(1, t0, 10, false))
	tab.put(flowAt(2, t0, 20, false))
	tab.put(flowAt(1, t0, 15, false)) // 1 is now the most recent
	tab.put(flowAt(3, t0, 30, false)) // evicts 2
	got := tab.list()
	if len(got) != 2 || got[0].Cookie != 3 || got[1].Cookie != 1 || got[1].TxBytes != 15 {
		t.Fatalf("flows %+v", got)
	}
	if n, ev := tab.stats(); n != 2 || ev != 1 {
		t.Fatalf("stats = %d flows, %d evictions; want 2, 1", n, ev)
	}
}

func TestFlowTableMerges(t *testing.T) {
	tab := newFlowTable(4)
	t0 := time.Unix(1000, 0)
	tab.put(flowAt(1, t0, 100, true))
	tab.put(flowAt(1, t0, 50, false)) // a live snapshot from before the close: ignored
	if got := tab.list(); got[0].TxBytes != 100 || !got[0].final {
		t.Fatalf("closed flow overwritten by an older snapshot: %+v", got[0])
	}
	tab.put(flowAt(1, t0.Add(time.Minute), 5, false)) // the socket connected again
	if got := tab.list(); len(got) != 1 || got[0].TxBytes != 5 || got[0].final {
		t.Fatalf("reconnected socket: %+v", got)
	}
	live := flowAt(2, t0, 7, false)
	live.Direction = "inbound"
	tab.put(live)
	adopted := flowAt(2, t0, 9, false) // counts never go back, a known direction stays
	tab.put(adopted)
	if got := tab.list(); len(got) != 2 || got[0].TxBytes != 9 || got[0].Direction != "inbound" {
		t.Fatalf("merged flow: %+v", got)
	}
}
