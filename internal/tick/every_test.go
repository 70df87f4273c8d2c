package tick

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// fn runs at every tick and not after stop returns, also when stop lands
// while fn is running; a second stop does nothing.
func TestEveryStopWaitsForFn(t *testing.T) {
	var calls atomic.Int32
	var running atomic.Bool
	started := make(chan struct{}, 1)
	stop := Every(context.Background(), time.Millisecond, func(time.Time) {
		running.Store(true)
		calls.Add(1)
		select {
		case started <- struct{}{}:
		default:
		}
		time.Sleep(20 * time.Millisecond)
		running.Store(false)
	})
	<-started
	<-started // a second call: it ticks repeatedly
	stop()
	if running.Load() {
		t.Fatal("stop returned while fn was running")
	}
	n := calls.Load()
	time.Sleep(10 * time.Millisecond)
	if calls.Load() != n {
		t.Fatalf("fn called after stop: %d calls, then %d", n, calls.Load())
	}
	stop()
}

// The loop also ends with its context; stop then returns at once.
func TestEveryEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stop := Every(ctx, time.Hour, func(time.Time) { t.Error("fn called before its first tick") })
	cancel()
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("stop blocked after the context ended")
	}
}
