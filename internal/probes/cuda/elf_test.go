package cuda

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/orb8/orb8/internal/probe/uprobe"
)

// endbr64, and the ELF64 symbol and section header sizes (System V gABI),
// stated here independently of the reader under test.
var endbr64 = []byte{0xf3, 0x0f, 0x1e, 0xfa}

const (
	symbolSize  = 24
	sectionSize = 64
)

// symbolOffset is the file offset of a function, read independently of uprobe.FunctionOffsets.
func symbolOffset(t *testing.T, path, name string) uint64 {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	text := f.Section(".text")
	for _, s := range syms {
		if s.Name == name {
			return s.Value - text.Addr + text.Offset
		}
	}
	t.Fatalf("%s: no symbol %s", path, name)
	return 0
}

func TestProbeOffsetSkipsEndbr64(t *testing.T) {
	for _, tc := range []struct {
		cf   string
		skip uint64
	}{{"-fcf-protection=full", 4}, {"-fcf-protection=none", 0}} {
		dir := buildStandins(t, tc.cf)
		lib := filepath.Join(dir, "libcuda.so")
		data, err := os.ReadFile(lib)
		if err != nil {
			t.Fatal(err)
		}
		offsets, err := uprobe.FunctionOffsets(bytes.NewReader(data), int64(len(data)), []string{"cuMemAlloc_v2", "cuLaunchKernel", "cuNoSuchFunction"})
		if err != nil {
			t.Fatal(err)
		}
		if len(offsets) != 2 {
			t.Fatalf("%s: offsets %v, want cuMemAlloc_v2 and cuLaunchKernel only", tc.cf, offsets)
		}
		for name, pt := range offsets {
			sym := symbolOffset(t, lib, name)
			// cuLaunchKernel begins with push %rbp (frame pointers) after any endbr64.
			if name == "cuLaunchKernel" && !pt.Emulated {
				t.Errorf("%s: %s probed on an instruction the kernel single-steps, want its push", tc.cf, name)
			}
			if off := pt.Offset; off != sym+tc.skip {
				t.Errorf("%s: %s probed at %#x, want symbol %#x + %d", tc.cf, name, off, sym, tc.skip)
			}
			if starts := bytes.Equal(data[sym:sym+4], endbr64); starts != (tc.skip == 4) {
				t.Errorf("%s: %s starts with endbr64: %v", tc.cf, name, starts)
			}
		}
	}
}

func TestFunctionOffsetsRejectsNonELF(t *testing.T) {
	data := []byte("not an ELF file, though as long as an ELF header is: 64 bytes or more")
	if _, err := uprobe.FunctionOffsets(bytes.NewReader(data), int64(len(data)), []string{"cuMemAlloc_v2"}); err == nil {
		t.Fatal("accepted a file that is not ELF")
	}
}

// realLibraries are libraries of this machine: real toolchains' output, with
// thousands of symbols (libc's span several chunks of the reader).
var realLibraries = []string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libz.so.1", "/lib/x86_64-linux-gnu/libdl.so.2"}

// functionSymbols lists the defined functions of a file's dynamic symbol
// table, read with debug/elf.
func functionSymbols(t testing.TB, path string) (*elf.File, []elf.Symbol) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	var funcs []elf.Symbol
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF {
			funcs = append(funcs, s)
		}
	}
	return f, funcs
}

// The bounded reader finds every function debug/elf finds, at the same
// offset, in real libraries and in the stand-ins. Of a name defined more than
// once (symbol versions), the last definition counts, as it did with debug/elf.
func TestFunctionOffsetsAgreeWithDebugELF(t *testing.T) {
	dir := buildStandins(t)
	paths := append([]string{dir + "/libcuda.so", dir + "/libcudart.so"}, realLibraries...)
	for _, path := range paths {
		ef, funcs := functionSymbols(t, path)
		last := map[string]elf.Symbol{}
		var names []string
		for _, s := range funcs {
			if _, ok := last[s.Name]; !ok {
				names = append(names, s.Name)
			}
			last[s.Name] = s
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := uprobe.FunctionOffsets(bytes.NewReader(data), int64(len(data)), names)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, s := range last {
			var seg *elf.Prog
			for _, p := range ef.Progs {
				if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && p.Vaddr <= s.Value && s.Value < p.Vaddr+p.Filesz {
					seg = p
				}
			}
			pt, ok := got[s.Name]
			if ok != (seg != nil) {
				t.Errorf("%s: %s found %v, in an executable segment %v", path, s.Name, ok, seg != nil)
			}
			if !ok || seg == nil {
				continue
			}
			want := s.Value - seg.Vaddr + seg.Off
			if bytes.Equal(data[want:want+4], endbr64) && s.Size > 4 {
				want += 4
			}
			if pt.Offset != want {
				t.Errorf("%s: %s at %#x, want %#x", path, s.Name, pt.Offset, want)
			}
		}
		if len(last) == 0 || len(got) != len(last) {
			t.Errorf("%s: %d of %d functions found", path, len(got), len(last))
		}
	}
}

// sparse is a file of size bytes that holds data and then zeros: a sparse
// file, whose size costs no disk, and here no memory.
type sparse struct {
	data []byte
	size int64
}

func (s sparse) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), s.size-off))
	clear(p[:n])
	if off < int64(len(s.data)) {
		copy(p[:n], s.data[off:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// ELF64 header field offsets (elf.h: Elf64_Ehdr, Elf64_Shdr).
const (
	ehPhnum, ehShoff, ehShentsize, ehShnum = 56, 40, 58, 60
	shOffset, shSize, shLink               = 24, 32, 40
)

// sectionHeader is where the header of the first section of a type lies in
// an ELF file.
func sectionHeader(t testing.TB, data []byte, typ elf.SectionType) int {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	for i, s := range f.Sections {
		if s.Type == typ {
			return int(le.Uint64(data[ehShoff:])) + i*int(le.Uint16(data[ehShentsize:]))
		}
	}
	t.Fatalf("no %v section", typ)
	return 0
}

// hostileEdits rewrite a stand-in library's headers as a hostile container
// could; each returns the size of the file it makes (sparse past the data).
var hostileEdits = map[string]func(t testing.TB, data []byte) int64{
	"256 MiB .dynsym in a 256 MiB file": func(t testing.TB, data []byte) int64 {
		return claimSize(t, data, elf.SHT_DYNSYM, 256<<20)
	},
	"256 MiB of whole symbols in .dynsym": func(t testing.TB, data []byte) int64 {
		return claimSize(t, data, elf.SHT_DYNSYM, 256<<20/symbolSize*symbolSize)
	},
	"256 MiB .dynstr in a 256 MiB file": func(t testing.TB, data []byte) int64 {
		h := sectionHeader(t, data, elf.SHT_DYNSYM)
		return claimSize(t, data, elf.SectionType(0), 256<<20, int(binary.LittleEndian.Uint32(data[h+shLink:])))
	},
	".dynsym past the end of the file": func(t testing.TB, data []byte) int64 {
		binary.LittleEndian.PutUint64(data[sectionHeader(t, data, elf.SHT_DYNSYM)+shOffset:], 1<<62)
		return int64(len(data))
	},
	".dynsym not whole symbols": func(t testing.TB, data []byte) int64 {
		h := sectionHeader(t, data, elf.SHT_DYNSYM) + shSize
		binary.LittleEndian.PutUint64(data[h:], binary.LittleEndian.Uint64(data[h:])+1)
		return int64(len(data))
	},
	".dynsym's string table out of range": func(t testing.TB, data []byte) int64 {
		binary.LittleEndian.PutUint32(data[sectionHeader(t, data, elf.SHT_DYNSYM)+shLink:], 1<<31)
		return int64(len(data))
	},
	"65535 section headers": func(t testing.TB, data []byte) int64 {
		binary.LittleEndian.PutUint16(data[ehShnum:], 0xffff)
		return int64(len(data))
	},
	"65535 program headers": func(t testing.TB, data []byte) int64 {
		binary.LittleEndian.PutUint16(data[ehPhnum:], 0xffff)
		return int64(len(data))
	},
	"section headers past the end": func(t testing.TB, data []byte) int64 {
		binary.LittleEndian.PutUint64(data[ehShoff:], uint64(len(data))-sectionSize)
		return int64(len(data))
	},
}

// claimSize makes a section (the first of typ, or the index given) claim
// size bytes, and returns a file size that holds them.
func claimSize(t testing.TB, data []byte, typ elf.SectionType, size uint64, index ...int) int64 {
	t.Helper()
	h := sectionHeader(t, data, typ)
	if len(index) > 0 {
		le := binary.LittleEndian
		h = int(le.Uint64(data[ehShoff:])) + index[0]*int(le.Uint16(data[ehShentsize:]))
	}
	binary.LittleEndian.PutUint64(data[h+shSize:], size)
	return int64(binary.LittleEndian.Uint64(data[h+shOffset:]) + size)
}

// allocated is how many bytes fn allocated on the heap.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Headers that lie about sizes are refused before anything of the claimed
// size is read; debug/elf, which the probe used before, read a 256 MiB
// .dynsym claim in a 256 MiB sparse file whole (800 MB of agent RSS).
func TestFunctionOffsetsRefusesHostileHeaders(t *testing.T) {
	dir := buildStandins(t)
	pristine, err := os.ReadFile(filepath.Join(dir, "libcudart.so"))
	if err != nil {
		t.Fatal(err)
	}
	wanted := []string{"cudaMalloc", "cudaLaunchKernel"}
	if pts, err := uprobe.FunctionOffsets(bytes.NewReader(pristine), int64(len(pristine)), wanted); err != nil || len(pts) != 2 {
		t.Fatalf("pristine stand-in: %v, %v", pts, err)
	}
	for name, edit := range hostileEdits {
		data := bytes.Clone(pristine)
		file := sparse{data, edit(t, data)}
		var err error
		if n := allocated(func() { _, err = uprobe.FunctionOffsets(file, file.size, wanted) }); n > 1<<20 {
			t.Errorf("%s: allocated %d bytes", name, n)
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		t.Logf("%s: %v", name, err)
	}
}

// FuzzFunctionOffsets: whatever the file, no panic, allocations bounded by
// the file's size, and probe points only for wanted functions inside it.
// Seeds: the stand-ins as the tests build them (functions start with
// endbr64), real libraries of this machine (built without), and the hostile
// rewrites above.
func FuzzFunctionOffsets(f *testing.F) {
	var wanted []string
	for _, lib := range libraries {
		for _, h := range lib.hooks {
			wanted = append(wanted, h.symbol)
		}
	}
	wanted = append(wanted, "deflate", "crc32", "malloc") // of the real libraries
	dir := buildStandins(f)
	for _, lib := range []string{"libcuda.so", "libcudart.so", "libcublas.so", "libcublasLt.so"} {
		data, err := os.ReadFile(filepath.Join(dir, lib))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	cudart, err := os.ReadFile(filepath.Join(dir, "libcudart.so"))
	if err != nil {
		f.Fatal(err)
	}
	for _, edit := range hostileEdits {
		hostile := bytes.Clone(cudart)
		edit(f, hostile)
		f.Add(hostile)
	}
	for _, path := range realLibraries[1:] { // libc is 2 MB: too big a seed to mutate
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	want := map[string]bool{}
	for _, w := range wanted {
		want[w] = true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			pts map[string]uprobe.Point
			err error
		)
		n := allocated(func() { pts, err = uprobe.FunctionOffsets(bytes.NewReader(data), int64(len(data)), wanted) })
		if limit := 3*uint64(len(data)) + 256<<10; n > limit {
			t.Fatalf("allocated %d bytes for a file of %d", n, len(data))
		}
		if err != nil && pts != nil {
			t.Fatal("probe points and an error")
		}
		for name, pt := range pts {
			if !want[name] || pt.Offset >= uint64(len(data)) {
				t.Fatalf("%s probed at %#x in a file of %d bytes", name, pt.Offset, len(data))
			}
		}
	})
}
