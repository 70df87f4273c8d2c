package cuda

import "sync"

// leakSteps is how many sampling intervals the leak window spans. Memory must
// grow in every one of them: a PyTorch process that warms up its caching
// allocator grows for a few seconds and then stays flat, a leak keeps growing.
const leakSteps = 4

// leakDetector flags workloads (of a runtime: K) whose outstanding device
// memory grew in each of the last leakSteps samples, taken
// window/leakSteps apart.
type leakDetector[K comparable] struct {
	mu        sync.Mutex
	history   map[K][]int64 // last leakSteps+1 samples, oldest first
	suspected map[K]bool
}

func newLeakDetector[K comparable]() *leakDetector[K] {
	return &leakDetector[K]{history: map[K][]int64{}, suspected: map[K]bool{}}
}

// observe takes one sample of every workload's outstanding bytes. A workload
// absent from the sample loses its history.
func (d *leakDetector[K]) observe(outstanding map[K]int64) {
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
func (d *leakDetector[K]) isSuspected(w K) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.suspected[w]
}
