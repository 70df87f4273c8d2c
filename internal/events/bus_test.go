package events

import "testing"

func TestSlowSubscriberLosesEventsButNeverBlocks(t *testing.T) {
	b := NewBus()
	if b.Wants(KindExec) {
		t.Fatal("wanted without subscribers")
	}
	slow := b.Subscribe(2, nil, nil)
	execs := b.Subscribe(10, []string{KindExec}, nil)
	if !b.Wants(KindExit) {
		t.Fatal("a subscriber of every kind does not make exits wanted")
	}
	for range 5 {
		b.Publish(Event{Kind: KindExec})
	}
	b.Publish(Event{Kind: KindExit})
	if len(slow.C) != 2 || slow.Dropped() != 4 {
		t.Fatalf("slow subscriber: %d buffered, %d dropped; want 2, 4", len(slow.C), slow.Dropped())
	}
	if len(execs.C) != 5 || execs.Dropped() != 0 {
		t.Fatalf("filtered subscriber: %d buffered, %d dropped; want 5, 0", len(execs.C), execs.Dropped())
	}
	b.Unsubscribe(slow)
	b.Unsubscribe(slow) // twice is harmless
	if b.Wants(KindExit) || !b.Wants(KindExec) {
		t.Fatalf("with only an exec subscriber: wants exit %v, exec %v", b.Wants(KindExit), b.Wants(KindExec))
	}
	if b.Wants(KindExit) || !b.Wants(KindExec) {
		t.Fatalf("with only an exec subscriber: wants exit %v, exec %v", b.Wants(KindExit), b.Wants(KindExec))
	}
	if _, open := <-drain(slow.C); open {
		t.Fatal("channel of an unsubscribed subscriber stays open")
	}
	b.Unsubscribe(execs)
	if b.Wants(KindExec) {
		t.Fatal("exec still wanted after every subscriber left")
	}
}

// drain empties a closed channel and returns it for a final receive.
func drain(c chan Event) chan Event {
	for range c {
	}
	return c
}

// A sample subscriber makes its kinds wanted, but not wanted in full.
func TestSampleSubscriber(t *testing.T) {
	b := NewBus()
	log := b.SubscribeSample(4, []string{KindDNS})
	if !b.Wants(KindDNS) || b.WantsAll(KindDNS) {
		t.Fatalf("with a sample subscriber: wants %v, wants all %v; want true, false", b.Wants(KindDNS), b.WantsAll(KindDNS))
	}
	b.Publish(Event{Kind: KindDNS})
	if len(log.C) != 1 {
		t.Fatalf("sample subscriber got %d events, want 1", len(log.C))
	}
	every := b.Subscribe(4, nil, nil)
	if !b.WantsAll(KindDNS) {
		t.Fatal("a subscriber of every kind does not make DNS wanted in full")
	}
	b.Unsubscribe(every)
	if b.WantsAll(KindDNS) || !b.Wants(KindDNS) {
		t.Fatalf("after the full subscriber left: wants %v, wants all %v", b.Wants(KindDNS), b.WantsAll(KindDNS))
	}
	b.Unsubscribe(log)
	if b.Wants(KindDNS) {
		t.Fatal("DNS still wanted after every subscriber left")
	}
}
