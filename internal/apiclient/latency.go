package apiclient

import (
	"slices"
	"sync"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// Latencies records capture-to-client latencies: how long after the kernel
// captured an event this process holds it. An event's time is the kernel's
// bpf_ktime_get_boot_ns at capture, which the agent turns into wall-clock
// time (probe.BootTime), so the same host's clock measures the delay. Safe
// for concurrent use.
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Observe records a streamed event's latency as of now.
func (l *Latencies) Observe(e *pb.Event) { l.Since(e.GetTime().AsTime()) }

// Since records the latency of something captured at captured, as of now.
func (l *Latencies) Since(captured time.Time) {
	d := time.Since(captured)
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Count is how many latencies were recorded.
func (l *Latencies) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

// Quantile returns the q-quantile (0..1, nearest rank below) of the recorded
// latencies, or 0 with none.
func (l *Latencies) Quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	return l.d[int(q*float64(len(l.d)-1))]
}
