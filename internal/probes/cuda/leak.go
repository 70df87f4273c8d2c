package cuda

import (
	"sync"

	"github.com/orb8/orb8/internal/cgroup"
)

// leakSteps is how many sampling intervals the leak window spans. Memory must
// grow in every one of them: a PyTorch process that warms up its caching
// allocator grows for a few seconds and then stays flat, a leak keeps growing.
const leakSteps = 4

// leakDetector flags workloads whose outstanding device memory grew in each
// of the last leakSteps samples, taken window/leakSteps apart.
type leakDetector struct {
	mu        sync.Mutex
	history   map[cgroup.Workload][]int64 // last leakSteps+1 samples, oldest first
	suspected map[cgroup.Workload]bool
}

func newLeakDetector() *leakDetector {
	return &leakDetector{history: map[cgroup.Workload][]int64{}, suspected: map[cgroup.Workload]bool{}}
}

// observe takes one sample of every workload's outstanding bytes. A workload
// absent from the sample loses its history.
func (d *leakDetector) observe(outstanding map[cgroup.Workload]int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for w := range d.history {
		if _, ok := outstanding[w]; !ok {
			delete(d.history, w)
			delete(d.suspected, w)
		}
	}
	for w, v := range outstanding {
		h := append(d.history[w], v)
		if len(h) > leakSteps+1 {
			h = h[len(h)-leakSteps-1:]
		}
		d.history[w] = h
		d.suspected[w] = growing(h)
	}
}

// growing reports whether a full history rises at every step.
func growing(h []int64) bool {
	if len(h) < leakSteps+1 {
		return false
	}
	for i := 1; i < len(h); i++ {
		if h[i] <= h[i-1] {
			return false
		}
	}
	return true
}

// isSuspected reports the verdict of the last sample.
func (d *leakDetector) isSuspected(w cgroup.Workload) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.suspected[w]
}
