package probe

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/testutil"
)

// pathResolver names cgroup id i "/w<999-i>", so id order is the reverse
// of label order.
type pathResolver struct{}

func (r pathResolver) Visible(id uint64) (cgroup.Workload, bool) { return r.Lookup(id), true }

func (pathResolver) Lookup(id uint64) cgroup.Workload {
	return cgroup.Workload{ID: id, Path: fmt.Sprintf("/w%03d", 999-id)}
}

// TestCollectPerCPUEmitsInLabelOrder: workloads come out sorted as the
// registry sorts series, which keeps its per-scrape sort linear.
func TestCollectPerCPUEmitsInLabelOrder(t *testing.T) {
	values := map[uint64]uint64{}
	for id := uint64(1); id <= 300; id++ {
		values[id] = id
	}
	m := perCPUMap(t, 512, values)
	var paths []string
	var sum uint64
	err := CollectPerCPU(m, pathResolver{}, func(dst, src *uint64) { *dst += *src }, func(w cgroup.Workload, v *uint64) {
		paths = append(paths, w.Path)
		sum += *v
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 300 || sum != 300*301/2 || !slices.IsSorted(paths) {
		t.Fatalf("%d workloads, sum %d, sorted %v: %v", len(paths), sum, slices.IsSorted(paths), paths[:5])
	}
}

// perCPUMap is a per-CPU hash map of uint64 keys and values, each value
// on the first CPU, closed when the test ends (root).
func perCPUMap(t *testing.T, maxEntries uint32, values map[uint64]uint64) *ebpf.Map {
	t.Helper()
	testutil.RequireRoot(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUHash, KeySize: 8, ValueSize: 8, MaxEntries: maxEntries})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	perCPU := make([]uint64, ebpf.MustPossibleCPU())
	for k, v := range values {
		perCPU[0] = v
		if err := m.Put(k, perCPU); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// TestBatchReadMatchesWalk: the batched read sees every entry the key-by-key
// walk sees, across several batches.
func TestBatchReadMatchesWalk(t *testing.T) {
	testutil.RequireRoot(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUHash, KeySize: 8, ValueSize: 8, MaxEntries: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	nCPU := ebpf.MustPossibleCPU()
	perCPU := make([]uint64, nCPU)
	for id := uint64(1); id <= 3*batchSize+7; id++ {
		for c := range perCPU {
			perCPU[c] = id * uint64(c+1)
		}
		if err := m.Put(id, perCPU); err != nil {
			t.Fatal(err)
		}
	}
	read := func(each func(*ebpf.Map, func(uint64, []uint64)) error) map[uint64]uint64 {
		got := map[uint64]uint64{}
		if err := each(m, func(k uint64, v []uint64) {
			for _, x := range v {
				got[k] += x
			}
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	walkPerCPU := func(m *ebpf.Map, fn func(uint64, []uint64)) error {
		return walk(m, func(k uint64, v *[]uint64) { fn(k, *v) })
	}
	batched, walked := read(ForEachPerCPU[uint64, uint64]), read(walkPerCPU)
	if len(batched) != 3*batchSize+7 || !maps.Equal(batched, walked) {
		t.Fatalf("batched read: %d keys, walk: %d keys, equal %v", len(batched), len(walked), maps.Equal(batched, walked))
	}
	if want := uint64(42 * nCPU * (nCPU + 1) / 2); batched[42] != want {
		t.Fatalf("key 42 sums to %d, want %d", batched[42], want)
	}
}

// recreatedResolver names ids 1 and 2 "/same" (a cgroup recreated under
// one path) and others after their id.
type recreatedResolver struct{}

func (recreatedResolver) Visible(id uint64) (cgroup.Workload, bool) {
	if id <= 2 {
		return cgroup.Workload{ID: id, Path: "/same"}, true
	}
	return cgroup.Workload{ID: id, Path: fmt.Sprintf("/w%d", id)}, true
}

// TestCollectPerCPUFoldsOnePath: the keys of two cgroup ids under one path
// are one series per rest, summed; other workloads' rests stay apart; the
// workloads emitted carry no id (probes key their own tables by labels).
// So in label order and in the table's (rows going whole to a shaper).
func TestCollectPerCPUFoldsOnePath(t *testing.T) {
	for _, ordered := range []bool{true, false} {
		t.Run(fmt.Sprintf("ordered=%v", ordered), func(t *testing.T) { testFoldsOnePath(t, ordered) })
	}
}

func testFoldsOnePath(t *testing.T, ordered bool) {
	// key: cgroup id << 8 | rest
	m := perCPUMap(t, 64, map[uint64]uint64{1<<8 | 1: 10, 1<<8 | 2: 20, 2<<8 | 1: 5, 2<<8 | 3: 7, 3<<8 | 1: 100, 3<<8 | 2: 200})
	got := map[string]uint64{}
	emits := 0
	err := collectPerCPU(m, recreatedResolver{}, func(k uint64) (uint64, uint64) { return k >> 8, k & 0xff },
		func(dst, src *uint64) { *dst += *src }, func(w cgroup.Workload, rest uint64, v *uint64) {
			got[fmt.Sprintf("%s/%d", w.Path, rest)] += *v
			emits++
			if w.ID != 0 {
				t.Errorf("%s emitted with cgroup id %d: probes key workloads by labels, id 0", w.Path, w.ID)
			}
		}, ordered)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"/same/1": 15, "/same/2": 20, "/same/3": 7, "/w3/1": 100, "/w3/2": 200}
	if emits != len(want) || !maps.Equal(got, want) {
		t.Fatalf("%d emits of %v, want one each of %v", emits, got, want)
	}
}
