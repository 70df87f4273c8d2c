package probe

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/series"
)

var cachedDesc = func() *series.Desc {
	var s series.Set
	return s.Workload("orb8_test_rowcache_total", "Test counter.")
}()

// namingCounter names ids 1 and 2 "/same" (a cgroup recreated under one
// path), hides id 4, cannot name id 5 ("/unknown/5"), and names others
// after their id and names' version; it counts what it is asked. Its
// stamps are a real resolver's, whose enricher the test installs anew to
// change names.
type namingCounter struct {
	stamps  *cgroup.Resolver
	version int
	asked   map[uint64]int
}

func (r *namingCounter) rename() {
	r.stamps.SetEnricher(nil)
	r.version++
}

func (r *namingCounter) Visible(id uint64) (cgroup.Workload, bool) {
	w, ok, _ := r.VisibleNamed(id)
	return w, ok
}

func (r *namingCounter) NamesStamp() (cgroup.NamesStamp, bool) { return r.stamps.NamesStamp() }

func (r *namingCounter) VisibleNamed(id uint64) (cgroup.Workload, bool, bool) {
	r.asked[id]++
	switch {
	case id <= 2:
		return cgroup.Workload{ID: id, Path: "/same"}, true, true
	case id == 4:
		return cgroup.Workload{ID: id, Path: "/hidden", Hidden: true}, false, true
	case id == 5:
		return cgroup.Workload{ID: id, Path: "/unknown/5"}, true, false
	}
	return cgroup.Workload{ID: id, Path: fmt.Sprintf("/w%d", id), Pod: fmt.Sprintf("v%d", r.version)}, true, true
}

// TestRowCacheNamesEachIDOncePerStamp: a table collected through its
// RowCache sends one row per workload with the ids of one path summed, no
// row for a hidden id, and names each id once while the resolver's names
// stay (an id it could not name, every time); new names once they change;
// and it keeps no id the table no longer holds.
func TestRowCacheNamesEachIDOncePerStamp(t *testing.T) {
	m := perCPUMap(t, 64, map[uint64]uint64{1: 10, 2: 20, 3: 30, 4: 40, 5: 50, 6: 60})
	stamps, err := cgroup.NewResolver(t.TempDir(), 8)
	if err != nil {
		t.Fatal(err)
	}
	defer stamps.Close()
	r := &namingCounter{stamps: stamps, asked: map[uint64]int{}}
	var cache RowCache[uint64]
	collect := func() map[string]float64 {
		t.Helper()
		ch := make(chan prometheus.Metric, 64)
		stamp, _ := r.NamesStamp()
		if err := cache.collect(series.RowsTo(ch), m, r, stamp, func(dst, src *uint64) { *dst += *src },
			func(row *series.Row, v *uint64) { row.Send(cachedDesc, prometheus.CounterValue, float64(*v)) }, false); err != nil {
			t.Fatal(err)
		}
		close(ch)
		got := map[string]float64{}
		for s := range ch {
			var out dto.Metric
			if err := s.Write(&out); err != nil {
				t.Fatal(err)
			}
			key := ""
			for _, l := range out.Label {
				if l.GetName() == "cgroup" || l.GetName() == "pod" && l.GetValue() != "" {
					key += l.GetValue() + " "
				}
			}
			if _, dup := got[key]; dup {
				t.Errorf("two rows of %q", key)
			}
			got[key] = out.Counter.GetValue()
		}
		return got
	}
	want := map[string]float64{"/same ": 10 + 20, "/w3 v0 ": 30, "/unknown/5 ": 50, "/w6 v0 ": 60}
	for range 3 {
		if got := collect(); !maps.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if want := map[uint64]int{1: 1, 2: 1, 3: 1, 4: 1, 5: 3, 6: 1}; !maps.Equal(r.asked, want) {
		t.Fatalf("asked %v, want %v", r.asked, want)
	}

	// The names change: each id is named again, once.
	r.rename()
	clear(r.asked)
	collect()
	got := collect()
	if want := map[string]float64{"/same ": 10 + 20, "/w3 v1 ": 30, "/unknown/5 ": 50, "/w6 v1 ": 60}; !maps.Equal(got, want) ||
		!maps.Equal(r.asked, map[uint64]int{1: 1, 2: 1, 3: 1, 4: 1, 5: 2, 6: 1}) {
		t.Fatalf("after a change of names: got %v, asked %v", got, r.asked)
	}

	// Ids gone from the table are gone from the cache.
	for _, id := range []uint64{2, 3, 4, 5} {
		if err := m.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	got = collect()
	if want := map[string]float64{"/same ": 10, "/w6 v1 ": 60}; !maps.Equal(got, want) {
		t.Fatalf("after deletes: got %v, want %v", got, want)
	}
	if len(cache.byID) != 2 || len(cache.byLabels) != 2 {
		t.Fatalf("cache keeps %d ids and %d workloads, want 2 and 2", len(cache.byID), len(cache.byLabels))
	}
}

// TestRowCacheSendsInLabelOrder: rows sent in label order stay in it, with
// every workload once and its value, as the table loses ids, gains new
// ones that sort among the kept, and the names change.
func TestRowCacheSendsInLabelOrder(t *testing.T) {
	values := map[uint64]uint64{}
	for id := uint64(6); id < 206; id++ {
		values[id] = id
	}
	m := perCPUMap(t, 512, values)
	stamps, err := cgroup.NewResolver(t.TempDir(), 8)
	if err != nil {
		t.Fatal(err)
	}
	defer stamps.Close()
	r := &namingCounter{stamps: stamps, asked: map[uint64]int{}}
	var cache RowCache[uint64]
	check := func(when string) {
		t.Helper()
		ch := make(chan prometheus.Metric, 1024)
		stamp, _ := r.NamesStamp()
		if err := cache.collect(series.RowsTo(ch), m, r, stamp, func(dst, src *uint64) { *dst += *src },
			func(row *series.Row, v *uint64) { row.Send(cachedDesc, prometheus.CounterValue, float64(*v)) }, true); err != nil {
			t.Fatal(err)
		}
		close(ch)
		var paths []string
		got := map[string]float64{}
		for s := range ch {
			var out dto.Metric
			if err := s.Write(&out); err != nil {
				t.Fatal(err)
			}
			for _, l := range out.Label {
				if l.GetName() == "cgroup" {
					paths = append(paths, l.GetValue())
					got[l.GetValue()] = out.Counter.GetValue()
				}
			}
		}
		want := map[string]float64{}
		for id, v := range values {
			want[fmt.Sprintf("/w%d", id)] = float64(v)
		}
		if !slices.IsSorted(paths) || len(paths) != len(want) || !maps.Equal(got, want) {
			t.Fatalf("%s: %d rows, sorted %v, equal %v: %v", when, len(paths), slices.IsSorted(paths), maps.Equal(got, want), paths)
		}
	}
	check("first")
	check("again")
	for id := uint64(6); id < 206; id += 3 {
		if err := m.Delete(id); err != nil {
			t.Fatal(err)
		}
		delete(values, id)
	}
	perCPU := make([]uint64, ebpf.MustPossibleCPU())
	for id := uint64(1000); id < 1050; id++ { // "/w1000".. sort among "/w100".."/w199"
		perCPU[0], values[id] = id, id
		if err := m.Put(id, perCPU); err != nil {
			t.Fatal(err)
		}
	}
	check("after deletes and adds")
	values[7]++
	perCPU[0] = values[7]
	if err := m.Put(uint64(7), perCPU); err != nil {
		t.Fatal(err)
	}
	check("after an update")
	r.rename()
	check("after a change of names")
}

// TestRowCacheRecoversFromAPanickingFill: a fill that panics (as Metric
// does on a label value that is not UTF-8; the registry recovers) leaves
// nothing behind: the next collection sends exactly what the table holds,
// each workload once.
func TestRowCacheRecoversFromAPanickingFill(t *testing.T) {
	m := perCPUMap(t, 64, map[uint64]uint64{6: 60, 7: 70, 8: 80})
	stamps, err := cgroup.NewResolver(t.TempDir(), 8)
	if err != nil {
		t.Fatal(err)
	}
	defer stamps.Close()
	r := &namingCounter{stamps: stamps, asked: map[uint64]int{}}
	var cache RowCache[uint64]
	collect := func(ordered bool, panicAt uint64) (rows []string, panicked any) {
		defer func() { panicked = recover() }()
		ch := make(chan prometheus.Metric, 64)
		stamp, _ := r.NamesStamp()
		err := cache.collect(series.RowsTo(ch), m, r, stamp, func(dst, src *uint64) { *dst += *src }, func(row *series.Row, v *uint64) {
			if *v == panicAt {
				panic("fill broke")
			}
			row.Send(cachedDesc, prometheus.CounterValue, float64(*v))
		}, ordered)
		if err != nil {
			t.Fatal(err)
		}
		close(ch)
		for s := range ch {
			var out dto.Metric
			if err := s.Write(&out); err != nil {
				t.Fatal(err)
			}
			for _, l := range out.Label {
				if l.GetName() == "cgroup" {
					rows = append(rows, fmt.Sprintf("%s=%g", l.GetValue(), out.Counter.GetValue()))
				}
			}
		}
		slices.Sort(rows)
		return rows, nil
	}
	for _, ordered := range []bool{true, false} {
		t.Run(fmt.Sprintf("ordered=%v", ordered), func(t *testing.T) {
			if _, p := collect(ordered, 80); p == nil {
				t.Fatal("fill did not panic")
			}
			if got, want := must(collect(ordered, 0)), []string{"/w6=60", "/w7=70", "/w8=80"}; !slices.Equal(got, want) {
				t.Fatalf("after a panic: got %v, want %v", got, want)
			}
			if _, p := collect(ordered, 80); p == nil {
				t.Fatal("fill did not panic")
			}
			if err := m.Delete(uint64(6)); err != nil {
				t.Fatal(err)
			}
			if got, want := must(collect(ordered, 0)), []string{"/w7=70", "/w8=80"}; !slices.Equal(got, want) {
				t.Fatalf("after a panic and a delete: got %v, want %v", got, want)
			}
			perCPU := make([]uint64, ebpf.MustPossibleCPU())
			perCPU[0] = 60
			if err := m.Put(uint64(6), perCPU); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// must is a collection's rows, which did not panic.
func must(rows []string, panicked any) []string {
	if panicked != nil {
		panic(panicked)
	}
	return rows
}
