package cuda

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"testing"
)

// symbolOffset is the file offset of a function, read independently of functionOffsets.
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
		offsets, err := functionOffsets(bytes.NewReader(data), []string{"cuMemAlloc_v2", "cuLaunchKernel", "cuNoSuchFunction"})
		if err != nil {
			t.Fatal(err)
		}
		if len(offsets) != 2 {
			t.Fatalf("%s: offsets %v, want cuMemAlloc_v2 and cuLaunchKernel only", tc.cf, offsets)
		}
		for name, pt := range offsets {
			sym := symbolOffset(t, lib, name)
			// cuLaunchKernel begins with push %rbp (frame pointers) after any endbr64.
			if name == "cuLaunchKernel" && !pt.emulated {
				t.Errorf("%s: %s probed on an instruction the kernel single-steps, want its push", tc.cf, name)
			}
			if off := pt.offset; off != sym+tc.skip {
				t.Errorf("%s: %s probed at %#x, want symbol %#x + %d", tc.cf, name, off, sym, tc.skip)
			}
			if starts := bytes.Equal(data[sym:sym+4], endbr64); starts != (tc.skip == 4) {
				t.Errorf("%s: %s starts with endbr64: %v", tc.cf, name, starts)
			}
		}
	}
}

func TestFunctionOffsetsRejectsNonELF(t *testing.T) {
	if _, err := functionOffsets(bytes.NewReader([]byte("not an ELF file")), []string{"cuMemAlloc_v2"}); err == nil {
		t.Fatal("accepted a file that is not ELF")
	}
}

func TestEmulated(t *testing.T) {
	for _, tc := range []struct {
		insn []byte
		want bool
	}{
		{[]byte{0x55, 0x48}, true},  // push %rbp
		{[]byte{0x41, 0x57}, true},  // push %r15
		{[]byte{0xe9, 0x00}, true},  // jmp rel32
		{[]byte{0x48, 0x8d}, false}, // lea
		{[]byte{0x48, 0x83}, false}, // sub $imm, %rsp
		{[]byte{0xf3, 0x0f}, false}, // endbr64 itself
	} {
		if got := emulated(tc.insn); got != tc.want {
			t.Errorf("emulated(% x) = %v, want %v", tc.insn, got, tc.want)
		}
	}
}
