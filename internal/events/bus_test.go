package events

import "testing"

func TestSlowSubscriberLosesEventsButNeverBlocks(t *testing.T) {
	b := NewBus()
	if b.Active() {
		t.Fatal("active without subscribers")
	}
	slow := b.Subscribe(2, nil)
	execs := b.Subscribe(10, func(e *Event) bool { return e.Kind == KindExec })
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
	if _, open := <-drain(slow.C); open {
		t.Fatal("channel of an unsubscribed subscriber stays open")
	}
	b.Unsubscribe(execs)
	if b.Active() {
		t.Fatal("active after every subscriber left")
	}
}

// drain empties a closed channel and returns it for a final receive.
func drain(c chan Event) chan Event {
	for range c {
	}
	return c
}
