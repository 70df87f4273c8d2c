package process

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/testutil"
)

// BenchmarkExecPipeline measures how many exec events per second the whole
// pipeline (tracepoint -> ring buffer -> reader -> decode -> resolver -> bus
// subscriber) takes, and whether any is lost. Each op is one exec, made by
// exec chains (no fork) in a test cgroup, `chains` of them in parallel.
func BenchmarkExecPipeline(b *testing.B) {
	for _, chains := range []int{1, 2} {
		b.Run(fmt.Sprintf("chains=%d", chains), func(b *testing.B) { benchExecs(b, chains, 0) })
	}
	// Paced at 5,000 execs/s: the foundation's zero-loss target.
	b.Run("rate=5000", func(b *testing.B) { benchExecs(b, 1, 5000) })
}

func benchExecs(b *testing.B, chains, rate int) {
	testutil.RequireRoot(b)
	chain := testutil.ExecChain(b)
	f := start(b)
	cg := testutil.NewCgroup(b)
	sub := f.bus.Subscribe(1<<16, nil, func(e *events.Event) bool { return e.Kind == events.KindExec && e.Workload.Path == cg.Path })
	defer f.bus.Unsubscribe(sub)
	var received int
	done := make(chan struct{})
	go func() {
		for range sub.C {
			received++
		}
		close(done)
	}()
	lostBefore := f.lost(b)

	per := max(b.N/chains, 1)
	b.ResetTimer()
	begin := time.Now()
	if rate == 0 {
		var wg sync.WaitGroup
		for range chains {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A chain of k execs: the first exec starts the program, k-1 re-exec it.
				cg.Run(b, chain, strconv.Itoa(per-1))
			}()
		}
		wg.Wait()
	} else {
		// Batches of 50 execs, paced to the rate.
		const batch = 50
		for sent := 0; sent < per; sent += batch {
			cg.Run(b, chain, strconv.Itoa(batch-1))
			next := begin.Add(time.Duration(sent+batch) * time.Second / time.Duration(rate))
			time.Sleep(time.Until(next))
		}
		per = (per + batch - 1) / batch * batch
	}
	elapsed := time.Since(begin)
	b.StopTimer()

	want := per * chains
	in := map[string]string{"cgroup": cg.Path}
	testutil.Eventually(b, 5*time.Second, func() bool { return f.value(b, "orb8_process_exec_total", in) == float64(want) },
		"in-kernel exec count %v, want %d", f.value(b, "orb8_process_exec_total", in), want)
	time.Sleep(200 * time.Millisecond)
	f.bus.Unsubscribe(sub)
	<-done
	lost := f.lost(b) - lostBefore
	b.ReportMetric(float64(want)/elapsed.Seconds(), "execs/s")
	b.ReportMetric(float64(want-received), "events_missing")
	b.ReportMetric(float64(lost), "ringbuf_lost")
	b.ReportMetric(float64(sub.Dropped()), "subscriber_dropped")
}
