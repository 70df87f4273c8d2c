package probe

import (
	"fmt"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/testutil"
)

// podNames names pod cgroups as a Kubernetes index would, under a lock as
// kube.Index does.
type podNames struct{ pods map[string]string }

func (p podNames) Enrich(w cgroup.Workload) cgroup.Workload {
	if name, ok := p.pods[w.PodUID]; ok {
		w.Namespace, w.Pod, w.Container = "bench", name, "app"
	}
	return w
}

type benchStats struct{ A, B, C, D, E, F, G uint64 }

var (
	benchSet   series.Set
	benchDescs = []*series.Desc{
		benchSet.Workload("orb8_bench_a_total", "a"), benchSet.Workload("orb8_bench_b_total", "b"),
		benchSet.Workload("orb8_bench_c_total", "c"), benchSet.Workload("orb8_bench_d_total", "d"),
		benchSet.Workload("orb8_bench_e_total", "e"), benchSet.Workload("orb8_bench_f_total", "f"),
		benchSet.Workload("orb8_bench_g", "g"),
	}
)

// BenchmarkCollectPerCPU10000 is the probe framework's part of a scrape:
// a per-CPU table of 10,000 pod cgroups read, named by the resolver, and
// made into the process probe's 7 series each (what a probe's Collect
// does before any exposition or shaping). Run as root.
func BenchmarkCollectPerCPU10000(b *testing.B) {
	testutil.RequireRoot(b)
	const n = 10000
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUHash, KeySize: 8, ValueSize: 56, MaxEntries: n})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	r, err := cgroup.NewResolver(b.TempDir(), 2*n)
	if err != nil {
		b.Fatal(err)
	}
	names := podNames{map[string]string{}}
	perCPU := make([]benchStats, ebpf.MustPossibleCPU())
	for i := range n {
		id := uint64(1_000_000 + i)
		uid := fmt.Sprintf("0000%04d-0000-0000-0000-000000000000", i)
		r.Add(id, fmt.Sprintf("/kubepods.slice/kubepods-pod%s.slice/cri-containerd-%064d.scope", uid, i))
		names.pods[uid] = fmt.Sprintf("d%03d-%05d", i%100, i)
		perCPU[0].A = uint64(i)
		if err := m.Put(id, perCPU); err != nil {
			b.Fatal(err)
		}
	}
	r.SetEnricher(names)
	add := func(dst, src *benchStats) { dst.A += src.A; dst.G += src.G }
	var sink prometheus.Metric
	samples := 0
	cpu := testutil.ProcessCPUTime(b, os.Getpid())
	for b.Loop() {
		samples = 0
		err := CollectPerCPU(m, r, add, func(w cgroup.Workload, s *benchStats) {
			row := series.NewRow(w)
			for _, d := range benchDescs {
				sink = row.Metric(d, prometheus.CounterValue, float64(s.A))
				samples++
			}
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	_ = sink
	b.ReportMetric(float64(testutil.ProcessCPUTime(b, os.Getpid())-cpu)/float64(b.N)/1e6, "cpu-ms/op")
	if samples != 7*n {
		b.Fatalf("%d samples, want %d", samples, 7*n)
	}
}
