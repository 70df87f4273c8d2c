package cuda

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"testing"

	"github.com/orb8/orb8/internal/probe/uprobe"
)

// kernelsSymbols are the kernels app's host-side kernel functions, from the
// standard library's ELF reader: the answer uprobe.Symbolize must give.
func kernelsSymbols(t testing.TB, path string) map[string]elf.Symbol {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]elf.Symbol{}
	for _, s := range syms {
		switch s.Name {
		case "_ZN4demo5scaleEPfi", "_ZN4demo5shiftEPfi", "_ZN4demo4fillEPf":
			out[s.Name] = s
		}
	}
	if len(out) != 3 {
		t.Fatalf("kernels app symbols: %v", out)
	}
	return out
}

// TestSymbolizesExecutableFunctions: a function's first and last byte,
// given as file offsets, name it by .symtab; an offset in no function and
// one outside the file name nothing.
func TestSymbolizesExecutableFunctions(t *testing.T) {
	path := filepath.Join(buildStandins(t), "kernels")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	fileOffset := func(vaddr uint64) uint64 {
		for _, s := range f.Progs {
			if s.Type == elf.PT_LOAD && s.Flags&elf.PF_X != 0 && vaddr >= s.Vaddr && vaddr-s.Vaddr < s.Filesz {
				return vaddr - s.Vaddr + s.Off
			}
		}
		t.Fatalf("%#x in no executable segment", vaddr)
		return 0
	}
	want := map[uint64]string{}
	for name, s := range kernelsSymbols(t, path) {
		want[fileOffset(s.Value)] = name
		want[fileOffset(s.Value+s.Size-1)] = name
	}
	offsets := []uint64{uint64(len(data)) + 100, 0}
	for off := range want {
		offsets = append(offsets, off)
	}
	got, err := uprobe.Symbolize(bytes.NewReader(data), int64(len(data)), offsets)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("uprobe.Symbolize: %v, want %v", got, want)
	}
	for off, name := range want {
		if got[off] != name {
			t.Errorf("offset %#x: %q, want %q", off, got[off], name)
		}
	}
	if got := kernelName("_ZN4demo5scaleEPfi"); got != "demo::scale(float*, int)" {
		t.Errorf("kernelName: %q, want demo::scale(float*, int)", got)
	}
	if got := kernelName(""); got != unknownKernel {
		t.Errorf("kernelName of no symbol: %q, want %q", got, unknownKernel)
	}
}

// FuzzSymbolize: whatever a container's file claims, uprobe.Symbolize stays within
// the file and its bounds, and names only offsets it was asked for.
func FuzzSymbolize(f *testing.F) {
	dir := buildStandins(f)
	for _, name := range []string{"kernels", "libcudart.so"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		offsets := []uint64{0, 0x1000, 0x1100, uint64(len(data)) / 2}
		var (
			names map[uint64]string
			err   error
		)
		n := allocated(func() { names, err = uprobe.Symbolize(bytes.NewReader(data), int64(len(data)), offsets) })
		if limit := 3*uint64(len(data)) + 256<<10; n > limit {
			t.Fatalf("allocated %d bytes for a file of %d", n, len(data))
		}
		if err != nil && names != nil {
			t.Fatal("names and an error")
		}
		for off := range names {
			if off != offsets[0] && off != offsets[1] && off != offsets[2] && off != offsets[3] {
				t.Fatalf("named offset %#x, not asked for", off)
			}
		}
	})
}
