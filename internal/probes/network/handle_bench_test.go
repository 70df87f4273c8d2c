package network

import (
	"testing"
	"unsafe"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
)

type oneWorkload cgroup.Workload

func (w oneWorkload) Lookup(id uint64) cgroup.Workload          { return cgroup.Workload(w) }
func (w oneWorkload) Visible(id uint64) (cgroup.Workload, bool) { return cgroup.Workload(w), true }

// BenchmarkHandleConnEvents is the agent's side of a short connection
// storm: each op is one connection's four ring records (open and close at
// each end) decoded into a full flow table, nobody streaming events.
func BenchmarkHandleConnEvents(b *testing.B) {
	p := New(DefaultFlowTableSize)
	p.env = probe.Env{Events: events.NewBus(), Resolver: oneWorkload{ID: 7, Path: "/bench", Namespace: "default", Pod: "client", Container: "c"}}
	var e networkConnEvent
	e.Family, e.State, e.Pid = 2, 1, 42 // AF_INET, ESTABLISHED
	copy(e.Comm[:], "wrk")
	copy(e.Saddr[:], []byte{127, 0, 0, 1})
	copy(e.Daddr[:], []byte{127, 0, 0, 1})
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&e)), unsafe.Sizeof(e))
	b.ReportAllocs()
	for i := range b.N {
		for _, kind := range []networkEventKind{networkEventKindEVENT_OPEN, networkEventKindEVENT_CLOSE} {
			for end := range uint64(2) {
				e.Cookie, e.Kind, e.StartNs, e.BootNs = uint64(2*i)+end, kind, uint64(i)*1000, uint64(i)*1000+500
				e.Sport, e.Dport = uint16(i), 8080
				p.handle(raw)
			}
		}
	}
}
