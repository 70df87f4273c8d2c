package drm

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fdinfo", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// busy, cycles and clock build expected engines.
func busy(ns, capacity uint64) *Engine { return &Engine{BusyNs: ns, HasBusy: true, Capacity: capacity} }

func cycles(c, total, capacity uint64) *Engine {
	return &Engine{Cycles: c, HasCycles: true, TotalCycles: total, HasTotal: true, Capacity: capacity}
}

// regions builds the memory of regions given as region: kind=bytes pairs.
func regions(r map[string]map[string]uint64) map[MemoryKey]uint64 {
	out := map[MemoryKey]uint64{}
	for region, kinds := range r {
		for kind, v := range kinds {
			out[MemoryKey{region, kind}] = v
		}
	}
	return out
}

func TestParseFdinfoOfEachDriver(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		want    Usage
	}{
		{"amdgpu.txt", Usage{
			Driver: "amdgpu", PDev: "0000:c1:00.0", ClientID: 43, HasID: true,
			Engines: map[string]*Engine{"compute": busy(81237650114, 1), "dma": busy(1204005921, 1)},
			// drm-memory-* repeat drm-resident-*: the explicit key stands.
			Memory: regions(map[string]map[string]uint64{
				"cpu":  {"total": 0, "shared": 0, "resident": 0, "purgeable": 0},
				"gtt":  {"total": 6 * mib, "shared": 0, "resident": 6 * mib, "purgeable": 0},
				"vram": {"total": 2052 * mib, "shared": 4 * mib, "resident": 2052 * mib, "purgeable": 0},
			}),
		}},
		{"amdgpu-5.15.txt", Usage{
			Driver: "amdgpu", PDev: "0000:03:00.0", ClientID: 7, HasID: true,
			Engines: map[string]*Engine{"gfx": busy(5e9, 1), "dec": busy(25e7, 1)},
			// Only the deprecated keys: resident.
			Memory: regions(map[string]map[string]uint64{
				"vram": {"resident": 524288 * kib}, "gtt": {"resident": 12036 * kib}, "cpu": {"resident": 0},
			}),
		}},
		{"i915.txt", Usage{
			Driver: "i915", PDev: "0000:03:00.0", ClientID: 12, HasID: true,
			Engines: map[string]*Engine{
				"render": busy(30e9, 1), "copy": busy(75e7, 1), "video": busy(0, 2),
				"video-enhance": busy(0, 2), "compute": busy(12e9, 4),
			},
			Memory: regions(map[string]map[string]uint64{
				"system0": {"total": 4 * mib, "shared": 0, "active": 0, "resident": 4 * mib, "purgeable": 132 * kib},
				"local0":  {"total": 1290 * mib, "shared": 16 * mib, "active": 3 * mib, "resident": 1290 * mib, "purgeable": 0},
			}),
		}},
		{"xe.txt", Usage{
			Driver: "xe", PDev: "0000:03:00.0", ClientID: 3, HasID: true,
			Engines: map[string]*Engine{
				"rcs": cycles(28257900, 7655183225, 1), "bcs": cycles(0, 7655183225, 1),
				"vcs": cycles(0, 7655183225, 2), "vecs": cycles(0, 7655183225, 2), "ccs": cycles(0, 7655183225, 4),
			},
			Memory: regions(map[string]map[string]uint64{
				"system": {"total": 0, "shared": 0, "active": 0, "resident": 0, "purgeable": 0},
				"gtt":    {"total": 192 * kib, "shared": 0, "active": 0, "resident": 192 * kib},
				"vram0":  {"total": 23992 * kib, "shared": 16 * mib, "active": 0, "resident": 23992 * kib},
				"stolen": {"total": 0, "shared": 0, "active": 0, "resident": 0},
			}),
		}},
		{"panfrost.txt", Usage{
			Driver: "panfrost", ClientID: 14, HasID: true,
			Engines: map[string]*Engine{
				"fragment":     {BusyNs: 1846584880, HasBusy: true, Cycles: 1424359409, HasCycles: true, Capacity: 1},
				"vertex-tiler": {BusyNs: 71932239, HasBusy: true, Cycles: 52617357, HasCycles: true, Capacity: 1},
			},
			Memory: regions(map[string]map[string]uint64{
				"memory": {"total": 290 * mib, "shared": 0, "active": 226 * mib, "resident": 36496 * kib, "purgeable": 128 * kib},
			}),
		}},
		{"amdxdna.txt", Usage{
			Driver: "amdxdna_accel_driver", PDev: "0000:c5:00.1", ClientID: 76, HasID: true,
			Engines: map[string]*Engine{"npu-amdxdna": busy(4.25e9, 1)},
			Memory:  regions(map[string]map[string]uint64{"memory": {"total": 64 * mib, "shared": 0, "active": 0}}),
		}},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			got, ok, err := ParseFdinfo(readFixture(t, tc.fixture))
			if err != nil || !ok {
				t.Fatalf("ok %v, err %v", ok, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", dump(got), dump(tc.want))
			}
		})
	}
}

func dump(u Usage) string {
	var lines []string
	for name, e := range u.Engines {
		lines = append(lines, fmt.Sprintf("engine %s: %+v", name, *e))
	}
	for k, v := range u.Memory {
		lines = append(lines, fmt.Sprintf("memory %s/%s: %d", k.Region, k.Kind, v))
	}
	slices.Sort(lines)
	return fmt.Sprintf("%s %s %d %v\n%s", u.Driver, u.PDev, u.ClientID, u.HasID, strings.Join(lines, "\n"))
}

func TestParseFdinfoWithoutUsageStats(t *testing.T) {
	u, ok, err := ParseFdinfo(readFixture(t, "plain.txt"))
	if ok || err != nil || !reflect.DeepEqual(u, Usage{}) {
		t.Fatalf("plain fdinfo: %+v, ok %v, err %v; want no client", u, ok, err)
	}
}

func TestParseFdinfoDeprecatedMemoryAfterResident(t *testing.T) {
	// The explicit key stands whichever comes first.
	for _, in := range []string{
		"drm-driver: amdgpu\ndrm-resident-vram: 2 MiB\ndrm-memory-vram: 1 MiB\n",
		"drm-driver: amdgpu\ndrm-memory-vram: 1 MiB\ndrm-resident-vram: 2 MiB\n",
	} {
		u, _, err := ParseFdinfo([]byte(in))
		if err != nil || len(u.Memory) != 1 || u.Memory[MemoryKey{"vram", "resident"}] != 2*mib {
			t.Errorf("%q: memory %v, err %v; want vram resident 2 MiB", in, u.Memory, err)
		}
	}
}

func TestParseFdinfoMalformedLinesLoseNothingElse(t *testing.T) {
	in := "drm-driver:\ti915\n" +
		"drm-client-id:\tseven\n" + // not a number
		"drm-engine-render:\t100 ms\n" + // wrong unit
		"drm-engine-copy:\t200 ns\n" +
		"drm-engine-capacity-copy:\t0\n" + // zero capacity is not allowed
		"drm-total-local0:\t3 PiB\n" + // unknown unit
		"drm-resident-local0:\t18446744073709551615 MiB\n" + // overflows
		"drm-pdev:\t0000:03:00.0 extra\n" + // whitespace in a string
		"drm-total-system0:\t1 KiB\n"
	u, ok, err := ParseFdinfo([]byte(in))
	if !ok {
		t.Fatal("a file with drm-driver is a client")
	}
	want := Usage{Driver: "i915", Engines: map[string]*Engine{"copy": busy(200, 1)}, Memory: map[MemoryKey]uint64{{"system0", "total"}: kib}}
	if !reflect.DeepEqual(u, want) {
		t.Errorf("got %+v, want %+v", u, want)
	}
	if err == nil {
		t.Fatal("no error for malformed lines")
	}
	for _, key := range []string{"drm-client-id", "drm-engine-render", "drm-engine-capacity-copy", "drm-total-local0", "drm-resident-local0", "drm-pdev"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}

// FuzzParseFdinfo: any input parses without a panic, and what it returns
// is consistent: a client has a driver; every engine a capacity.
func FuzzParseFdinfo(f *testing.F) {
	for _, name := range []string{"amdgpu.txt", "amdgpu-5.15.txt", "i915.txt", "xe.txt", "panfrost.txt", "amdxdna.txt", "plain.txt"} {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte("drm-driver: x\ndrm-engine-capacity-: 1\ndrm-total-cycles-: 2\ndrm-memory-: 3 KiB\ndrm-engine-: 4 ns\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, ok, _ := ParseFdinfo(b)
		if ok != (u.Driver != "") {
			t.Fatalf("ok %v with driver %q", ok, u.Driver)
		}
		for name, e := range u.Engines {
			if name == "" || e.Capacity == 0 {
				t.Fatalf("engine %q capacity %d", name, e.Capacity)
			}
		}
		for k := range u.Memory {
			if k.Region == "" {
				t.Fatalf("memory %+v without a region", k)
			}
		}
	})
}
