package uprobe

import (
	"crypto/tls"
	"debug/elf"
	"debug/gosym"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

// Linked into this test binary (stripped, as go test builds them: found
// through .gopclntab), for it to look for.
var tlsMethods = []any{(*tls.Conn).Write, (*tls.Conn).Read}

// The test binary's own crypto/tls functions: the entry probe on the stack
// check's JBE, a return probe on each RET byte, all inside the function.
func TestGoFunctionsOfThisBinary(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("Go functions are probed on amd64 only")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := []string{"crypto/tls.(*Conn).Write", "crypto/tls.(*Conn).Read", "no.such.function"}
	if len(tlsMethods) != 2 {
		t.Fatal("crypto/tls methods not linked")
	}
	fns, err := ParseGoFile(f, names)
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 2 {
		t.Fatalf("found %v, want the two crypto/tls functions", fns)
	}
	// debug/gosym, the standard library's reader of the same table, to compare.
	ef, err := elf.NewFile(f)
	if err != nil {
		t.Fatal(err)
	}
	text, pclntab := ef.Section(".text"), ef.Section(".gopclntab")
	data, err := pclntab.Data()
	if err != nil {
		t.Fatal(err)
	}
	table, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		t.Fatal(err)
	}
	for name, fn := range fns {
		s := table.LookupFunc(name)
		if s == nil {
			t.Fatalf("debug/gosym has no %s", name)
		}
		size := s.End - s.Entry
		start := s.Entry - text.Addr + text.Offset
		inside := func(off uint64) bool { return off > start && off < start+size }
		b := make([]byte, 2)
		if _, err := f.ReadAt(b, int64(fn.Entry)); err != nil || !inside(fn.Entry) || (b[0] != 0x76 && (b[0] != 0x0f || b[1] != 0x86)) {
			t.Errorf("%s: entry at %#x (function %#x+%d) holds % x, want a JBE", name, fn.Entry, start, size, b)
		}
		if len(fn.Returns) == 0 {
			t.Errorf("%s: no returns", name)
		}
		for _, r := range fn.Returns {
			if _, err := f.ReadAt(b[:1], int64(r)); err != nil || !inside(r) || b[0] != 0xc3 {
				t.Errorf("%s: return at %#x holds %x, want RET (0xc3)", name, r, b[0])
			}
		}
		t.Logf("%s: entry +%#x, %d returns", name, fn.Entry-start, len(fn.Returns))
	}
}

func TestProbeGoRefuses(t *testing.T) {
	for name, code := range map[string][]byte{
		// Go 1.16's stack ABI: g from thread-local storage into rcx.
		"stack ABI": {0x64, 0x48, 0x8b, 0x0c, 0x25, 0xf8, 0xff, 0xff, 0xff, 0x48, 0x3b, 0x61, 0x10, 0x76, 0x10, 0xc3},
		// push rbp; mov rbp, rsp; ...; ret: C.
		"C":         {0x55, 0x48, 0x89, 0xe5, 0x5d, 0xc3},
		"truncated": {0x49, 0x3b, 0x66},
		"empty":     {},
	} {
		if fn, err := probeGo(code); !errors.Is(err, ErrNotRegisterABI) {
			t.Errorf("%s: %+v, %v; want ErrNotRegisterABI", name, fn, err)
		}
	}
	// The register ABI's check, then no RET: a function that never returns is not probed.
	if _, err := probeGo([]byte{0x49, 0x3b, 0x66, 0x10, 0x76, 0x02, 0xeb, 0xfe}); err == nil {
		t.Error("a function without RET accepted")
	}
}

// goPrologue is CMP RSP, [R14+0x10]; JBE +4; MOV RAX, RBX; RET; CALL more.
var goPrologue = []byte{0x49, 0x3b, 0x66, 0x10, 0x76, 0x04, 0x48, 0x89, 0xd8, 0xc3, 0xe8, 0, 0, 0, 0}

func TestProbeGo(t *testing.T) {
	fn, err := probeGo(goPrologue)
	if err != nil || fn.Entry != 4 || len(fn.Returns) != 1 || fn.Returns[0] != 9 {
		t.Fatalf("probeGo = %+v, %v; want entry 4, returns [9]", fn, err)
	}
	// LEA R12, [RSP-0x1000]; CMP R12, [R14+0x10]; JBE; RET.
	big := []byte{0x4c, 0x8d, 0xa4, 0x24, 0x00, 0xf0, 0xff, 0xff, 0x4d, 0x3b, 0x66, 0x10, 0x76, 0x01, 0xc3, 0xc3}
	fn, err = probeGo(big)
	if err != nil || fn.Entry != 12 || len(fn.Returns) != 2 {
		t.Fatalf("probeGo(large frame) = %+v, %v; want entry 12, two returns", fn, err)
	}
}

// FuzzProbeGo: whatever the code, no panic, and probe points inside it on a
// JBE and on RETs.
func FuzzProbeGo(f *testing.F) {
	f.Add(goPrologue)
	f.Add([]byte{0x4c, 0x8d, 0xa4, 0x24, 0x00, 0xf0, 0xff, 0xff, 0x4d, 0x3b, 0x66, 0x10, 0x76, 0x01, 0xc3, 0xc3})
	f.Add([]byte{0x55, 0x48, 0x89, 0xe5, 0x5d, 0xc3})
	f.Fuzz(func(t *testing.T, code []byte) {
		fn, err := probeGo(code)
		if err != nil {
			return
		}
		if fn.Entry >= uint64(len(code)) || (code[fn.Entry] != 0x76 && code[fn.Entry] != 0x0f) || len(fn.Returns) == 0 {
			t.Fatalf("probeGo(% x) = %+v", code, fn)
		}
		for _, r := range fn.Returns {
			if r >= uint64(len(code)) || code[r] != 0xc3 {
				t.Fatalf("probeGo(% x): return at %d", code, r)
			}
		}
	})
}

// Go's function table gives the same probe points as the symbol table,
// for executables linked by Go and by the system's linker (C code before
// Go's text: runtime.text is not .text's start), position-independent or
// not, stripped or not.
func TestGoFunctionTablesAgree(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("Go functions are probed on amd64 only")
	}
	names := []string{"crypto/tls.(*Conn).Write", "crypto/tls.(*Conn).Read"}
	for _, b := range []struct{ link, buildmode string }{{"internal", "exe"}, {"external", "exe"}, {"external", "pie"}} {
		link := b.link + " " + b.buildmode
		dir := t.TempDir()
		build := func(out string, ldflags string) string {
			bin := filepath.Join(dir, out)
			cmd := exec.Command("go", "build", "-o", bin, "-buildmode="+b.buildmode, "-ldflags=-linkmode="+b.link+" "+ldflags, "./testdata/tlsprog")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build (%s linking): %v: %s", link, err, out)
			}
			return bin
		}
		full, stripped := build("full", ""), build("stripped", "-s -w")
		// The reference: the symbol table alone.
		f, err := os.Open(full)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		ef, err := readELF(f, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]uint64{}
		err = ef.functions(elf.SHT_SYMTAB, func(name []byte, value, _ uint64) {
			if slices.Contains(names, string(name)) {
				want[string(name)] = value
			}
		})
		if err != nil || len(want) != 2 {
			t.Fatalf("%s linking: symbol table: %v, %v", link, want, err)
		}
		pcln := map[string]uint64{}
		err = ef.pclntabFunctions(map[string]bool{names[0]: true, names[1]: true}, func(name string, vaddr, _ uint64) { pcln[name] = vaddr })
		if err != nil || !maps.Equal(pcln, want) {
			t.Errorf("%s linking: .gopclntab says %x (%v), .symtab %x", link, pcln, err, want)
		}
		for _, bin := range []string{full, stripped} {
			g, err := os.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			fns, err := ParseGoFile(g, names)
			g.Close()
			if err != nil || len(fns) != 2 {
				t.Errorf("%s (%s linking): %v, %v", filepath.Base(bin), link, fns, err)
			}
		}
	}
}
