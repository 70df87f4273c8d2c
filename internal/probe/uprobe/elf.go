// Package uprobe finds where to attach uprobes in the shared libraries that
// processes map, in any container: which library files a process maps
// (/proc/<pid>/maps), opening such a file safely from the process's root,
// and a bounded ELF reader that locates functions (past an endbr64, the
// cheap probe point) and names the functions at addresses.
package uprobe

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// The library files the probe reads belong to containers: any workload can
// map a file named libcudart.so whose headers claim anything. The reader
// below trusts no size in the file. Every table it reads must lie inside the
// file and under a fixed cap (real CUDA libraries use under 1% of each), and
// it never holds more than the string table and one chunk of symbols.
const (
	maxSegments    = 256      // program headers (real libraries: ~10)
	maxSections    = 4096     // section headers (~40)
	maxSymbolTable = 16 << 20 // .dynsym bytes, ~700k symbols (libcuda: ~40 KiB)
	maxStringTable = 16 << 20 // .dynstr bytes (libcuda: ~50 KiB)
	symbolChunk    = 2730     // symbols read at once: 64 KiB
)

// ELF64 record sizes (the System V gABI, elf.h: Elf64_Ehdr, _Phdr, _Shdr, _Sym).
const (
	headerSize  = 64
	segmentSize = 56
	sectionSize = 64
	symbolSize  = 24
)

// endbr64 is the instruction that starts functions built with
// -fcf-protection (CET). A uprobe on it is single-stepped, ~20x slower than
// one on the next instruction, which the kernel emulates (push).
var endbr64 = []byte{0xf3, 0x0f, 0x1e, 0xfa}

// Point is where a function is probed.
type Point struct {
	Offset uint64 // in the file
	// TextOffset is its offset in the executable segment that holds it, of
	// TextSize bytes: the probe's address less TextOffset is where that
	// segment starts in a process.
	TextOffset, TextSize uint64
	// Emulated: the kernel emulates the instruction there (push, jmp, call,
	// nop) instead of single-stepping it, the ~20x more expensive path.
	Emulated bool
}

// segment is an executable PT_LOAD segment.
type segment struct {
	vaddr, off, filesz, memsz uint64
}

// table is a section's place in the file.
type table struct {
	off, size uint64
}

// FunctionOffsets returns where to probe each of the wanted functions an
// ELF64 little-endian file of size bytes defines in its dynamic symbol
// table: the symbol's offset, plus 4 when the function starts with endbr64.
// Functions it lacks are left out. It reads only through r, within size,
// and allocates at most the string table (capped) and a chunk of symbols,
// whatever the file claims. The caller recovers from panics (none known):
// the fuzz target must see them.
func FunctionOffsets(r io.ReaderAt, size int64, wanted []string) (map[string]Point, error) {
	f, err := readELF(r, size)
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(wanted))
	for _, w := range wanted {
		want[w] = true
	}
	out := map[string]Point{}
	err = f.functions(elf.SHT_DYNSYM, func(name []byte, value, size uint64) {
		if !want[string(name)] {
			return
		}
		if pt, ok := probeAt(r, f.segs, value, size); ok {
			out[string(name)] = pt
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// elfFile is what the readers need of an ELF64 little-endian file: its
// executable segments and where its section headers are.
type elfFile struct {
	r                  io.ReaderAt
	size               uint64
	machine            elf.Machine
	segs               []segment
	shoff              uint64
	shentsize, shcount uint16
	shstrndx           uint16 // the section of section names
}

// readELF reads the header and executable segments of a file of size bytes.
func readELF(r io.ReaderAt, size int64) (*elfFile, error) {
	if size < headerSize {
		return nil, errors.New("parse ELF: shorter than an ELF header")
	}
	fsize := uint64(size)
	hdr := make([]byte, headerSize)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return nil, fmt.Errorf("parse ELF: read header: %w", err)
	}
	if !bytes.HasPrefix(hdr, []byte(elf.ELFMAG)) || elf.Class(hdr[elf.EI_CLASS]) != elf.ELFCLASS64 ||
		elf.Data(hdr[elf.EI_DATA]) != elf.ELFDATA2LSB {
		return nil, errors.New("parse ELF: not a little-endian 64-bit ELF file")
	}
	le := binary.LittleEndian
	if t := elf.Type(le.Uint16(hdr[16:])); t != elf.ET_DYN && t != elf.ET_EXEC {
		return nil, fmt.Errorf("parse ELF: type %v, want a shared object or executable", t)
	}
	segs, err := execSegments(r, fsize, le.Uint64(hdr[32:]), le.Uint16(hdr[54:]), le.Uint16(hdr[56:]))
	if err != nil {
		return nil, err
	}
	return &elfFile{
		r: r, size: fsize, machine: elf.Machine(le.Uint16(hdr[18:])), segs: segs,
		shoff: le.Uint64(hdr[40:]), shentsize: le.Uint16(hdr[58:]), shcount: le.Uint16(hdr[60:]), shstrndx: le.Uint16(hdr[62:]),
	}, nil
}

// functions calls fn with each defined function symbol of the symbol table
// of type typ (SHT_DYNSYM, SHT_SYMTAB): its name, which fn must not keep,
// value and size. It holds the string table (capped) and one chunk of
// symbols at a time.
func (f *elfFile) functions(typ elf.SectionType, fn func(name []byte, value, size uint64)) error {
	syms, strs, err := f.symbolTables(typ)
	if err != nil {
		return err
	}
	names := make([]byte, strs.size)
	if _, err := f.r.ReadAt(names, int64(strs.off)); err != nil {
		return fmt.Errorf("%v: read string table: %w", typ, err)
	}
	le := binary.LittleEndian
	chunk := make([]byte, symbolChunk*symbolSize)
	// Symbol 0 is the reserved undefined symbol.
	for at := uint64(symbolSize); at < syms.size; at += uint64(len(chunk)) {
		buf := chunk[:min(uint64(len(chunk)), syms.size-at)]
		if _, err := f.r.ReadAt(buf, int64(syms.off+at)); err != nil {
			return fmt.Errorf("%v: %w", typ, err)
		}
		for s := buf; len(s) >= symbolSize; s = s[symbolSize:] {
			info, shndx := s[4], elf.SectionIndex(le.Uint16(s[6:]))
			if elf.ST_TYPE(info) != elf.STT_FUNC || shndx == elf.SHN_UNDEF {
				continue
			}
			fn(cString(names, le.Uint32(s[0:])), le.Uint64(s[8:]), le.Uint64(s[16:]))
		}
	}
	return nil
}

// execSegments reads the program headers and keeps the executable PT_LOAD
// segments that lie inside the file.
func execSegments(r io.ReaderAt, fsize, off uint64, entsize, count uint16) ([]segment, error) {
	if count == 0 || count > maxSegments || entsize != segmentSize {
		return nil, fmt.Errorf("parse ELF: %d program headers of %d bytes, want 1 to %d of %d", count, entsize, maxSegments, segmentSize)
	}
	raw, err := readTable(r, fsize, table{off, uint64(count) * segmentSize})
	if err != nil {
		return nil, fmt.Errorf("parse ELF: program headers: %w", err)
	}
	le := binary.LittleEndian
	var segs []segment
	for p := raw; len(p) >= segmentSize; p = p[segmentSize:] {
		if elf.ProgType(le.Uint32(p)) != elf.PT_LOAD || elf.ProgFlag(le.Uint32(p[4:]))&elf.PF_X == 0 {
			continue
		}
		s := segment{off: le.Uint64(p[8:]), vaddr: le.Uint64(p[16:]), filesz: le.Uint64(p[32:]), memsz: le.Uint64(p[40:])}
		if s.off <= fsize && s.filesz <= fsize-s.off && s.vaddr+s.filesz >= s.vaddr {
			segs = append(segs, s)
		}
	}
	return segs, nil
}

// sectionHeader is what the readers use of an ELF section header.
type sectionHeader struct {
	name  uint32 // offset in the section name table
	typ   elf.SectionType
	flags elf.SectionFlag
	addr  uint64
	table
	link uint32
}

// sections reads the section headers, under their cap, and returns how
// many there are and a reader of header i (below the count).
func (f *elfFile) sections() (count uint32, section func(i uint32) sectionHeader, err error) {
	if f.shcount == 0 || f.shcount > maxSections || f.shentsize != sectionSize {
		return 0, nil, fmt.Errorf("parse ELF: %d section headers of %d bytes, want 1 to %d of %d", f.shcount, f.shentsize, maxSections, sectionSize)
	}
	raw, err := readTable(f.r, f.size, table{f.shoff, uint64(f.shcount) * sectionSize})
	if err != nil {
		return 0, nil, fmt.Errorf("parse ELF: section headers: %w", err)
	}
	le := binary.LittleEndian
	section = func(i uint32) sectionHeader {
		h := raw[i*sectionSize:]
		return sectionHeader{
			name: le.Uint32(h), typ: elf.SectionType(le.Uint32(h[4:])), flags: elf.SectionFlag(le.Uint64(h[8:])), addr: le.Uint64(h[16:]),
			table: table{le.Uint64(h[24:]), le.Uint64(h[32:])}, link: le.Uint32(h[40:]),
		}
	}
	return uint32(f.shcount), section, nil
}

// symbolTables finds the symbol table of type typ (SHT_DYNSYM, SHT_SYMTAB)
// and its string table in the section headers, each inside the file and
// under its cap.
func (f *elfFile) symbolTables(typ elf.SectionType) (syms, strs table, err error) {
	count, section, err := f.sections()
	if err != nil {
		return syms, strs, err
	}
	fsize := f.size
	for i := range count {
		h := section(i)
		if h.typ != typ {
			continue
		}
		if t := h.table; t.size%symbolSize != 0 || t.size > maxSymbolTable || !t.inside(fsize) {
			return syms, strs, fmt.Errorf("%v: table of %d bytes at %d: want a multiple of %d, at most %d, inside the file's %d",
				typ, t.size, t.off, symbolSize, maxSymbolTable, fsize)
		}
		if h.link >= count {
			return syms, strs, fmt.Errorf("%v: string table section %d of %d", typ, h.link, count)
		}
		str := section(h.link)
		if s := str.table; str.typ != elf.SHT_STRTAB || s.size > maxStringTable || !s.inside(fsize) {
			return syms, strs, fmt.Errorf("%v: string table (%v) of %d bytes at %d: want at most %d, inside the file's %d",
				typ, str.typ, s.size, s.off, maxStringTable, fsize)
		}
		return h.table, str.table, nil
	}
	return syms, strs, fmt.Errorf("%v: %w", typ, elf.ErrNoSymbols)
}

// inside: the table lies within a file of fsize bytes.
func (t table) inside(fsize uint64) bool {
	return t.off <= fsize && t.size <= fsize-t.off
}

// readTable reads a table already checked against the caps.
func readTable(r io.ReaderAt, fsize uint64, t table) ([]byte, error) {
	if !t.inside(fsize) {
		return nil, fmt.Errorf("%d bytes at %d: beyond the end of the file (%d bytes)", t.size, t.off, fsize)
	}
	buf := make([]byte, t.size)
	if _, err := r.ReadAt(buf, int64(t.off)); err != nil {
		return nil, err
	}
	return buf, nil
}

// cString is the NUL-terminated string at off in a string table; nil when
// it does not end inside the table.
func cString(table []byte, off uint32) []byte {
	if uint64(off) >= uint64(len(table)) {
		return nil
	}
	s := table[off:]
	end := bytes.IndexByte(s, 0)
	if end < 0 {
		return nil
	}
	return s[:end]
}

// probeAt is where to probe a function at virtual address vaddr, of size
// bytes: ok is false unless it lies in an executable segment.
func probeAt(r io.ReaderAt, segs []segment, vaddr, size uint64) (Point, bool) {
	for _, seg := range segs {
		if vaddr < seg.vaddr || vaddr-seg.vaddr >= seg.filesz {
			continue
		}
		off := vaddr - seg.vaddr + seg.off
		head := make([]byte, len(endbr64)+2)
		if _, err := r.ReadAt(head, int64(off)); err != nil {
			return Point{}, false
		}
		skip := uint64(0)
		if bytes.Equal(head[:len(endbr64)], endbr64) && size > uint64(len(endbr64)) {
			skip = uint64(len(endbr64))
			head = head[len(endbr64):]
		}
		return Point{
			Offset:     off + skip,
			TextOffset: vaddr + skip - seg.vaddr,
			TextSize:   seg.memsz,
			Emulated:   Emulated(head),
		}, true
	}
	return Point{}, false
}

// Emulated recognises the instructions x86 uprobes emulate without a
// single-step: push reg (with or without REX.B), jmp, call, nop.
func Emulated(insn []byte) bool {
	if len(insn) >= 2 && insn[0] == 0x41 {
		insn = insn[1:]
	}
	switch b := insn[0]; {
	case b >= 0x50 && b <= 0x57, b == 0xe8, b == 0xe9, b == 0xeb, b == 0x90:
		return true
	}
	return false
}

// ParseFile finds the probe points of an open library file (OpenMapped). A parser bug
// (none known; the reader is fuzzed) costs this file, not the agent.
func ParseFile(f *os.File, symbols []string) (points map[string]Point, err error) {
	return parseOpen(f, symbols, FunctionOffsets)
}

// parseOpen runs a reader of probe points on an open file, a panic being
// the file's error.
func parseOpen[P any](f *os.File, symbols []string, read func(io.ReaderAt, int64, []string) (map[string]P, error)) (points map[string]P, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parse ELF: %v", r)
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return read(f, st.Size(), symbols)
}
