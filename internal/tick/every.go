// Package tick runs work at a fixed interval on a goroutine of its own.
package tick

import (
	"context"
	"time"
)

// Every calls fn with the tick's time every interval, from a goroutine of
// its own, until ctx ends or stop is called. stop waits for a running fn to
// return, so what fn owns may be released right after it; calling stop
// again does nothing.
func Every(ctx context.Context, interval time.Duration, fn func(now time.Time)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				fn(now)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
