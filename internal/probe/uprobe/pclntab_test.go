package uprobe

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"testing"
)

// goTLSNames are the functions the synthetic executables define.
var goTLSNames = []string{"crypto/tls.(*Conn).Write", "crypto/tls.(*Conn).Read"}

// cPrologue stands for C code an external linker puts before Go's text:
// push rbp; mov rbp, rsp; pop rbp; ret; int3 padding to 32 bytes.
var cPrologue = append([]byte{0x55, 0x48, 0x89, 0xe5, 0x5d, 0xc3}, bytes.Repeat([]byte{0xcc}, 26)...)

// goELF builds a small x86-64 executable as Go's linker lays out what the
// readers use: one executable PT_LOAD at 0x400000 holding everything;
// .text with cPrologue first when cFirst, then a function per name, each
// goPrologue padded to 32 bytes; a .gopclntab (Go 1.20) naming them; a
// .go.module whose moduledata points at the table and says where Go's text
// starts (module false: no such section); .shstrtab.
func goELF(names []string, cFirst, module bool) []byte {
	const base = 0x400000
	le := binary.LittleEndian
	out := make([]byte, headerSize+segmentSize)
	align := func(n int) {
		for len(out)%n != 0 {
			out = append(out, 0)
		}
	}
	type section struct {
		name       string
		typ, flags uint64
		off, size  int
	}
	var sections []section
	add := func(name string, typ, flags uint64, data []byte) int {
		align(32)
		off := len(out)
		out = append(out, data...)
		sections = append(sections, section{name: name, typ: typ, flags: flags, off: off, size: len(data)})
		return off
	}
	// .text
	var text []byte
	if cFirst {
		text = append(text, cPrologue...)
	}
	goText := len(text)
	for range names {
		text = append(text, goPrologue...)
		text = append(text, bytes.Repeat([]byte{0xcc}, 32-len(goPrologue))...)
	}
	textOff := add(".text", 1, 6, text) // PROGBITS, ALLOC|EXECINSTR
	// .gopclntab: header, names, functab, records.
	var names0 []byte
	var nameOffs []uint32
	for _, n := range names {
		nameOffs = append(nameOffs, uint32(len(names0)))
		names0 = append(append(names0, n...), 0)
	}
	nfunc := len(names)
	namesOff := pclntabHeader
	cuOff := namesOff + len(names0)
	for cuOff%8 != 0 {
		cuOff++
	}
	funcsOff := cuOff
	recordsAt := (2*nfunc + 1) * 4 // after functab, relative to funcsOff
	pcln := make([]byte, funcsOff+recordsAt+8*nfunc)
	le.PutUint32(pcln, pclntabMagic120)
	pcln[6], pcln[7] = 1, 8
	for i, w := range []int{nfunc, 0, 0, namesOff, cuOff, cuOff, cuOff, funcsOff} {
		le.PutUint64(pcln[8+8*i:], uint64(w))
	}
	copy(pcln[namesOff:], names0)
	for i := range nfunc {
		entry := uint32(32 * i) // from Go's text start
		le.PutUint32(pcln[funcsOff+8*i:], entry)
		le.PutUint32(pcln[funcsOff+8*i+4:], uint32(recordsAt+8*i))
		le.PutUint32(pcln[funcsOff+recordsAt+8*i:], entry)
		le.PutUint32(pcln[funcsOff+recordsAt+8*i+4:], nameOffs[i])
	}
	le.PutUint32(pcln[funcsOff+8*nfunc:], uint32(32*nfunc))
	pclnOff := add(".gopclntab", 1, 2, pcln) // ALLOC
	if module {
		md := make([]byte, moduleSize+16)
		le.PutUint64(md[8:], base+uint64(pclnOff)) // a word before it, as in .go.module
		le.PutUint64(md[8+moduleFuncNames:], base+uint64(pclnOff+namesOff))
		le.PutUint64(md[8+moduleText:], base+uint64(textOff+goText))
		add(".go.module", 1, 3, md) // WRITE|ALLOC
	}
	var shstr []byte
	shstr = append(shstr, 0)
	nameAt := map[string]int{}
	for _, s := range append(sections, section{name: ".shstrtab"}) {
		nameAt[s.name] = len(shstr)
		shstr = append(append(shstr, s.name...), 0)
	}
	add(".shstrtab", 3, 0, shstr) // STRTAB
	align(8)
	shoff := len(out)
	out = append(out, make([]byte, sectionSize)...) // the null section
	for _, s := range sections {
		h := make([]byte, sectionSize)
		le.PutUint32(h, uint32(nameAt[s.name]))
		le.PutUint32(h[4:], uint32(s.typ))
		le.PutUint64(h[8:], s.flags)
		if s.flags != 0 {
			le.PutUint64(h[16:], base+uint64(s.off))
		}
		le.PutUint64(h[24:], uint64(s.off))
		le.PutUint64(h[32:], uint64(s.size))
		out = append(out, h...)
	}
	// The ELF header and the one program header.
	copy(out, "\x7fELF\x02\x01\x01")
	le.PutUint16(out[16:], 2)  // ET_EXEC
	le.PutUint16(out[18:], 62) // EM_X86_64
	le.PutUint32(out[20:], 1)
	le.PutUint64(out[32:], headerSize)
	le.PutUint64(out[40:], uint64(shoff))
	le.PutUint16(out[52:], headerSize)
	le.PutUint16(out[54:], segmentSize)
	le.PutUint16(out[56:], 1)
	le.PutUint16(out[58:], sectionSize)
	le.PutUint16(out[60:], uint16(len(sections)+1))
	le.PutUint16(out[62:], uint16(len(sections))) // .shstrtab, the last
	ph := out[headerSize:]
	le.PutUint32(ph, 1)     // PT_LOAD
	le.PutUint32(ph[4:], 5) // R|X
	le.PutUint64(ph[16:], base)
	le.PutUint64(ph[32:], uint64(len(out)))
	le.PutUint64(ph[40:], uint64(len(out)))
	return out
}

func TestGoFunctionsOfSyntheticTables(t *testing.T) {
	for _, tc := range []struct {
		name           string
		cFirst, module bool
		err            error
	}{
		{"Go linker", false, true, nil},
		{"external linker", true, true, nil},
		// Where Go's text starts is not known: the table is not used (and
		// there is no .symtab), rather than functions taken for others.
		{"Go linker, no moduledata", false, false, elf.ErrNoSymbols},
		{"external linker, no moduledata", true, false, elf.ErrNoSymbols},
	} {
		data := goELF(goTLSNames, tc.cFirst, tc.module)
		fns, err := GoFunctions(bytes.NewReader(data), int64(len(data)), goTLSNames)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: %v, %v; want %v", tc.name, fns, err, tc.err)
			}
			continue
		}
		if err != nil || len(fns) != 2 {
			t.Fatalf("%s: %v, %v", tc.name, fns, err)
		}
		goText := uint64(bytes.Index(data, goPrologue)) // the first function's offset in the file
		for i, name := range goTLSNames {
			start := goText + 32*uint64(i)
			if fn := fns[name]; fn.Entry != start+4 || len(fn.Returns) != 1 || fn.Returns[0] != start+9 {
				t.Errorf("%s: %s = %+v, want entry %#x, returns [%#x]", tc.name, name, fn, start+4, start+9)
			}
		}
	}
}

// FuzzGoFunctions: whatever the file, no panic, and probe points inside
// it on a JBE and on RETs. Seeds: the synthetic executables above.
func FuzzGoFunctions(f *testing.F) {
	for _, cFirst := range []bool{false, true} {
		for _, module := range []bool{false, true} {
			f.Add(goELF(goTLSNames, cFirst, module))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fns, err := GoFunctions(bytes.NewReader(data), int64(len(data)), goTLSNames)
		if err != nil {
			return
		}
		for name, fn := range fns {
			if fn.Entry >= uint64(len(data)) || (data[fn.Entry] != 0x76 && data[fn.Entry] != 0x0f) || len(fn.Returns) == 0 {
				t.Fatalf("%s: %+v", name, fn)
			}
			for _, r := range fn.Returns {
				if r >= uint64(len(data)) || data[r] != 0xc3 {
					t.Fatalf("%s: return at %d", name, r)
				}
			}
		}
	})
}
