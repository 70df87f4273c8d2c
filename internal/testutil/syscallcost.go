package testutil

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// GetppidRounds times calls getppid calls under each of sets, one round per
// benchmark iteration with the sets in rotated order, so a noisy machine
// disturbs all alike. setUp prepares a set and returns what tears it down.
// It returns ns per call of every round, by "cpu-"+set (the calling
// thread's CPU time, which time others ran leaves out) and "wall-"+set.
func GetppidRounds(b *testing.B, sets []string, calls int, setUp func(set string) (tearDown func())) map[string][]float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	samples := map[string][]float64{}
	round := 0
	for b.Loop() {
		for i := range sets {
			set := sets[(i+round)%len(sets)]
			tearDown := setUp(set)
			cpu0, t0 := ThreadCPUTime(b), time.Now()
			for range calls {
				unix.Getppid()
			}
			samples["wall-"+set] = append(samples["wall-"+set], float64(time.Since(t0).Nanoseconds())/float64(calls))
			samples["cpu-"+set] = append(samples["cpu-"+set], float64((ThreadCPUTime(b)-cpu0).Nanoseconds())/float64(calls))
			tearDown()
		}
		round++
	}
	return samples
}
