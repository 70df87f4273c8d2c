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

// cachedTable is a per-CPU table of test values, named by a namingCounter
// and collected through a RowCache.
type cachedTable struct {
	m     *ebpf.Map
	r     *namingCounter
	cache RowCache[uint64]
}

func newCachedTable(t *testing.T, values map[uint64]uint64) *cachedTable {
	t.Helper()
	m := perCPUMap(t, 512, values)
	stamps, err := cgroup.NewResolver(t.TempDir(), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stamps.Close() })
	return &cachedTable{m: m, r: &namingCounter{stamps: stamps, asked: map[uint64]int{}}}
}

// put sets id's value (on the first CPU).
func (c *cachedTable) put(t *testing.T, id, v uint64) {
	t.Helper()
	perCPU := make([]uint64, ebpf.MustPossibleCPU())
	perCPU[0] = v
	if err := c.m.Put(id, perCPU); err != nil {
		t.Fatal(err)
	}
}

// sentRow is a row a collection sent: its cgroup and pod labels, value.
type sentRow struct {
	path, pod string
	value     float64
}

// collect collects the table once, each workload's value sent as a
// counter unless it is panicAt, at which the fill panics (and so does
// collect); it returns the rows in the order sent.
func (c *cachedTable) collect(t *testing.T, ordered bool, panicAt uint64) []sentRow {
	t.Helper()
	ch := make(chan prometheus.Metric, 1024)
	stamp, _ := c.r.NamesStamp()
	err := c.cache.collect(series.RowsTo(ch), c.m, c.r, stamp, func(dst, src *uint64) { *dst += *src }, func(row *series.Row, v *uint64) {
		if *v == panicAt {
			panic("fill broke")
		}
		row.Send(cachedDesc, prometheus.CounterValue, float64(*v))
	}, ordered)
	if err != nil {
		t.Fatal(err)
	}
	close(ch)
	var rows []sentRow
	for s := range ch {
		var out dto.Metric
		if err := s.Write(&out); err != nil {
			t.Fatal(err)
		}
		row := sentRow{value: out.Counter.GetValue()}
		for _, l := range out.Label {
			switch l.GetName() {
			case "cgroup":
				row.path = l.GetValue()
			case "pod":
				row.pod = l.GetValue()
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// TestRowCacheNamesEachIDOncePerStamp: a table collected through its
// RowCache sends one row per workload with the ids of one path summed, no
// row for a hidden id, and names each id once while the resolver's names
// stay (an id it could not name, every time); new names once they change;
// and it keeps no id the table no longer holds.
func TestRowCacheNamesEachIDOncePerStamp(t *testing.T) {
	c := newCachedTable(t, map[uint64]uint64{1: 10, 2: 20, 3: 30, 4: 40, 5: 50, 6: 60})
	r := c.r
	collect := func() map[string]float64 {
		t.Helper()
		got := map[string]float64{}
		for _, row := range c.collect(t, false, 0) {
			key := row.path + " "
			if row.pod != "" {
				key += row.pod + " "
			}
			if _, dup := got[key]; dup {
				t.Errorf("two rows of %q", key)
			}
			got[key] = row.value
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
		if err := c.m.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	got = collect()
	if want := map[string]float64{"/same ": 10, "/w6 v1 ": 60}; !maps.Equal(got, want) {
		t.Fatalf("after deletes: got %v, want %v", got, want)
	}
	if len(c.cache.byID) != 2 || len(c.cache.byLabels) != 2 {
		t.Fatalf("cache keeps %d ids and %d workloads, want 2 and 2", len(c.cache.byID), len(c.cache.byLabels))
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
	c := newCachedTable(t, values)
	check := func(when string) {
		t.Helper()
		var paths []string
		got := map[string]float64{}
		for _, row := range c.collect(t, true, 0) {
			paths = append(paths, row.path)
			got[row.path] = row.value
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
		if err := c.m.Delete(id); err != nil {
			t.Fatal(err)
		}
		delete(values, id)
	}
	for id := uint64(1000); id < 1050; id++ { // "/w1000".. sort among "/w100".."/w199"
		values[id] = id
		c.put(t, id, id)
	}
	check("after deletes and adds")
	values[7]++
	c.put(t, 7, values[7])
	check("after an update")
	c.r.rename()
	check("after a change of names")
}

// TestRowCacheRecoversFromAPanickingFill: a fill that panics (as Metric
// does on a label value that is not UTF-8; the registry recovers) leaves
// nothing behind: the next collection sends exactly what the table holds,
// each workload once.
func TestRowCacheRecoversFromAPanickingFill(t *testing.T) {
	for _, ordered := range []bool{true, false} {
		t.Run(fmt.Sprintf("ordered=%v", ordered), func(t *testing.T) {
			c := newCachedTable(t, map[uint64]uint64{6: 60, 7: 70, 8: 80})
			collect := func(panicAt uint64) (rows []string, panicked any) {
				defer func() { panicked = recover() }()
				for _, row := range c.collect(t, ordered, panicAt) {
					rows = append(rows, fmt.Sprintf("%s=%g", row.path, row.value))
				}
				slices.Sort(rows)
				return rows, nil
			}
			if _, p := collect(80); p == nil {
				t.Fatal("fill did not panic")
			}
			if got, p := collect(0); p != nil || !slices.Equal(got, []string{"/w6=60", "/w7=70", "/w8=80"}) {
				t.Fatalf("after a panic: got %v (panic %v)", got, p)
			}
			if _, p := collect(80); p == nil {
				t.Fatal("fill did not panic")
			}
			if err := c.m.Delete(uint64(6)); err != nil {
				t.Fatal(err)
			}
			if got, p := collect(0); p != nil || !slices.Equal(got, []string{"/w7=70", "/w8=80"}) {
				t.Fatalf("after a panic and a delete: got %v (panic %v)", got, p)
			}
		})
	}
}
