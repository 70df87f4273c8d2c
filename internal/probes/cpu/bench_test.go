package cpu

import (
	"os"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

// BenchmarkRefresh is one refresh of every cgroup of the host's cgroup2
// tree, by the walk and by each cgroup's files, with the CPU time the
// process and the kernel spent on it (the walk's program runs in the
// reading thread). Rescans, which list the cgroups every other refresh
// (from the resolver in the agent, by a walk of the directories here), are
// left out: they are the same either way. Make the cgroups first; run as
// root:
//
//	go test ./internal/probes/cpu -run '^$' -bench Refresh -benchtime 20x
func BenchmarkRefresh(b *testing.B) {
	testutil.RequireRoot(b)
	res := testutil.Resolver(b)
	src, err := findSources(res.Root())
	if err != nil {
		b.Fatal(err)
	}
	if !src.walkable(res.Root()) {
		b.Skip("cgroup2 keeps no usage here: nothing to walk")
	}
	// The walk alone: the time the kernel holds cgroup_mutex, and the copy.
	b.Run("walk-only", func(b *testing.B) {
		w := newTestWalker(b)
		for b.Loop() {
			if err := w.Walk(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(w.Len()), "cgroups")
	})
	for _, mode := range []string{"walk", "files"} {
		b.Run(mode, func(b *testing.B) {
			r := newRefresher(src, res.Root(), res)
			b.Cleanup(r.close)
			if mode == "walk" {
				r.walker = newTestWalker(b)
			}
			r.refresh(time.Now()) // lists the cgroups and opens what it holds open
			cpu := testutil.ProcessCPUTime(b, os.Getpid())
			for b.Loop() {
				r.rounds = 1 // no rescan
				r.refresh(time.Now())
			}
			b.ReportMetric(float64(testutil.ProcessCPUTime(b, os.Getpid())-cpu)/float64(b.N)/1e6, "cpu-ms/op")
			b.ReportMetric(float64(len(r.snapshot())), "cgroups")
		})
	}
}
