package api

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
)

// dnsEvent is a streamed lookup with every common field set.
func dnsEvent() *events.Event {
	return &events.Event{
		Time: time.Unix(1700000000, 5), Kind: events.KindDNS,
		Workload: cgroup.Workload{ID: 9, Path: "/kubepods/pod1/c1", Namespace: "shop", Pod: "web-1", Container: "web",
			ContainerID: "abc123", PodUID: "uid-1", Runtime: "containerd"},
		Process: events.Process{PID: 42, PPID: 1, UID: 1000, Comm: "curl"},
		DNS: &events.DNS{QName: "example.com.", QType: "A", RCode: "NOERROR", Answered: true, Answers: 1,
			Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, Latency: 3 * time.Millisecond,
			Server: netip.MustParseAddrPort("10.96.0.10:53"), Client: netip.MustParseAddrPort("10.0.0.5:40000"), Protocol: "udp", ID: 7},
	}
}

// The attributes are the event's JSON less the fields every kind has, which
// the message carries typed.
func TestEventAttributesAreTheKindsDetail(t *testing.T) {
	e := dnsEvent()
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]any
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	for _, common := range []string{"time", "kind", "workload", "process"} {
		if _, ok := all[common]; !ok {
			t.Fatalf("events.Event's JSON has no %q: %s", common, raw)
		}
		delete(all, common)
	}
	want, err := structpb.NewStruct(all)
	if err != nil {
		t.Fatal(err)
	}
	if got := eventAttributes(e); !proto.Equal(got, want) {
		t.Fatalf("attributes = %v, want %v", got, want)
	}
	if got := eventAttributes(&events.Event{Kind: events.KindDNS, Workload: e.Workload}); got != nil {
		t.Fatalf("attributes of an event without a detail = %v, want none", got)
	}
}

// BenchmarkEventMessage converts a DNS lookup for a stream, as the API does
// for every event of a kind without a typed detail.
func BenchmarkEventMessage(b *testing.B) {
	e := dnsEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := proto.Marshal(eventMessage(e, "node-1")); err != nil {
			b.Fatal(err)
		}
	}
}
