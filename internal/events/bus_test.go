package events

import (
	"testing"
	"time"
)

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

// Gather waits out its time while the buffer has room, and ends as soon as
// a publish leaves the buffer a quarter full: a lingering reader is not
// caught by a burst. A mark left from an earlier fill does not end it.
func TestGatherEndsWhenTheBufferFills(t *testing.T) {
	b := NewBus()
	sub := b.Subscribe(512, nil, nil)
	defer b.Unsubscribe(sub)
	start := time.Now()
	sub.Gather(20 * time.Millisecond)
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Fatalf("Gather on an empty buffer returned after %v, want 20ms", waited)
	}
	publish := func(n int) {
		for range n {
			b.Publish(Event{Kind: KindExec})
		}
	}
	publish(128) // a quarter: marks the buffer, then read empty
	for len(sub.C) > 0 {
		<-sub.C
	}
	done := make(chan struct{})
	go func() {
		sub.Gather(time.Hour)
		close(done)
	}()
	publish(127)
	select {
	case <-done:
		t.Fatalf("Gather ended with %d of %d events buffered", len(sub.C), cap(sub.C))
	case <-time.After(50 * time.Millisecond):
	}
	publish(1)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("Gather still waits with %d of %d events buffered", len(sub.C), cap(sub.C))
	}
}
