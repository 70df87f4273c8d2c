package uprobe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Go's function table, .gopclntab, names every function of a Go executable
// and where it starts: stripped executables (go build -ldflags=-s, go test
// binaries) keep it, the runtime needs it. Its layout is the Go 1.18 and
// 1.20 one (runtime/symtab.go, pcHeader; debug/gosym); the register ABI the
// probes need came with 1.17, whose table is older and not read.
const (
	pclntabMagic118 = 0xfffffff0
	pclntabMagic120 = 0xfffffff1
	pclntabHeader   = 8 + 8*8 // magic, pad, quantum, pointer size, then 8 words
	maxSectionNames = 1 << 20 // .shstrtab bytes (Go executables: ~300)
	maxGoFunctions  = 1 << 22 // functions in the table (kubelet: ~100k)
	maxFuncNames    = 64 << 20
	funcWindow      = 64 << 10 // bytes of function records read at once
)

// errNoPclntab: the file has no Go function table it can read.
var errNoPclntab = errors.New("no Go 1.18+ function table (.gopclntab)")

// pclntabFunctions calls fn with the start address and size of each wanted
// function in the file's .gopclntab. Bounded: it holds the function name
// table (capped) and a window of function records, whatever the file says.
func (f *elfFile) pclntabFunctions(want map[string]bool, fn func(name string, vaddr, size uint64)) error {
	sections, err := f.goSections()
	if err != nil {
		return err
	}
	pcln := sections.pcln
	hdr := make([]byte, pclntabHeader)
	if pcln.size < pclntabHeader {
		return errNoPclntab
	}
	if _, err := f.r.ReadAt(hdr, int64(pcln.off)); err != nil {
		return err
	}
	le := binary.LittleEndian
	if m := le.Uint32(hdr); (m != pclntabMagic118 && m != pclntabMagic120) || hdr[4] != 0 || hdr[5] != 0 || hdr[7] != 8 {
		return fmt.Errorf("%w: header % x", errNoPclntab, hdr[:8])
	}
	word := func(i int) uint64 { return le.Uint64(hdr[8+8*i:]) }
	nfunc, names, cuOff, funcs := word(0), table{word(3), 0}, word(4), word(7)
	// The name table runs up to the compilation units' table behind it.
	if names.off > cuOff || cuOff > pcln.size || cuOff-names.off > maxFuncNames || nfunc > maxGoFunctions ||
		funcs > pcln.size || (2*nfunc+1)*4 > pcln.size-funcs {
		return fmt.Errorf("%w: %d functions, names at %d to %d, records at %d, in %d bytes", errNoPclntab, nfunc, names.off, cuOff, funcs, pcln.size)
	}
	textAddr, err := f.goText(sections, names.off)
	if err != nil {
		return err
	}
	names.size = cuOff - names.off
	names.off += pcln.off
	nameTable, err := readTable(f.r, f.size, names)
	if err != nil {
		return err
	}
	// The wanted names' offsets in the name table, each name once.
	wanted := map[uint32]string{}
	for name := range want {
		entry := append([]byte(name), 0)
		for at := 0; ; {
			i := bytes.Index(nameTable[at:], entry)
			if i < 0 {
				break
			}
			if at += i; at == 0 || nameTable[at-1] == 0 { // not the end of a longer name
				wanted[uint32(at)] = name
				break
			}
			at++
		}
	}
	if len(wanted) == 0 {
		return nil
	}
	// functab: nfunc+1 pairs (entry offset from the text's start, record
	// offset from funcs), then a record per function whose second word is
	// its name's offset.
	functab := window{r: f.r, base: pcln.off + funcs, size: pcln.size - funcs}
	records := functab // a window of its own: the two are read in step, far apart
	for i := range nfunc {
		entry, err := functab.uint32(8 * i)
		if err != nil {
			return err
		}
		rec, err := functab.uint32(8*i + 4)
		if err != nil {
			return err
		}
		nameOff, err := records.uint32(uint64(rec) + 4)
		if err != nil {
			return err
		}
		name, ok := wanted[nameOff]
		if !ok {
			continue
		}
		next, err := functab.uint32(8 * (i + 1))
		if err != nil {
			return err
		}
		if next > entry {
			fn(name, textAddr+uint64(entry), uint64(next-entry))
		}
		delete(wanted, nameOff)
		if len(wanted) == 0 {
			return nil
		}
	}
	return nil
}

// goSectionSet is where Go's tables are.
type goSectionSet struct {
	pcln     table  // .gopclntab
	pclnAddr uint64 // its address
	textAddr uint64 // .text's
	// module holds runtime.firstmoduledata: .go.module (Go 1.26), else
	// .noptrdata.
	module table
}

// goSections finds .gopclntab, inside the file, and the other sections
// Go's function table needs.
func (f *elfFile) goSections() (set goSectionSet, err error) {
	count, section, err := f.sections()
	if err != nil {
		return set, err
	}
	if uint32(f.shstrndx) >= count {
		return set, errNoPclntab
	}
	names := section(uint32(f.shstrndx)).table
	if names.size > maxSectionNames {
		return set, fmt.Errorf("section names: %d bytes, want at most %d", names.size, maxSectionNames)
	}
	nameTable, err := readTable(f.r, f.size, names)
	if err != nil {
		return set, fmt.Errorf("section names: %w", err)
	}
	var foundPcln, foundText bool
	var module, noptrdata table
	for i := range count {
		h := section(i)
		switch string(cString(nameTable, h.name)) {
		case ".gopclntab":
			set.pcln, set.pclnAddr, foundPcln = h.table, h.addr, h.inside(f.size)
		case ".text":
			set.textAddr, foundText = h.addr, true
		case ".go.module":
			module = h.table
		case ".noptrdata":
			noptrdata = h.table
		}
	}
	if !foundPcln || !foundText {
		return set, errNoPclntab
	}
	set.module = module
	if module.size == 0 {
		set.module = noptrdata
	}
	return set, nil
}

// Offsets in runtime.moduledata (runtime/symtab.go, the same from Go 1.18
// to 1.26): the pcHeader pointer, funcnametab's data pointer, text.
const (
	moduleFuncNames = 8
	moduleText      = 8 + 6*24 + 8 + 2*8
	moduleSize      = moduleText + 8
	maxModuleData   = 64 << 20
)

// goText is the address where the function table's entry offsets start,
// runtime.text: the moduledata's text field, the moduledata found as the
// words that point at the table and at its name table (namesOff into it).
// Without it the table is not used (errNoPclntab): .text's address is
// runtime.text only when Go linked the executable, and a wrong start can
// land every function on another one's code, which GoFunctions' prologue
// check would pass.
func (f *elfFile) goText(set goSectionSet, namesOff uint64) (uint64, error) {
	m := set.module
	if m.size < moduleSize || m.size > maxModuleData || !m.inside(f.size) {
		return 0, fmt.Errorf("%w: no moduledata section", errNoPclntab)
	}
	le := binary.LittleEndian
	data := window{r: f.r, base: m.off, size: m.size}
	for off := uint64(0); off+moduleSize <= m.size; off += 8 {
		w, err := data.uint64(off)
		if err != nil {
			return 0, err
		}
		if w != set.pclnAddr {
			continue
		}
		rec := make([]byte, moduleSize)
		if _, err := f.r.ReadAt(rec, int64(m.off+off)); err != nil {
			return 0, err
		}
		if le.Uint64(rec[moduleFuncNames:]) == set.pclnAddr+namesOff {
			if text := le.Uint64(rec[moduleText:]); text != 0 {
				return text, nil
			}
			break
		}
	}
	return 0, fmt.Errorf("%w: no moduledata that points at it", errNoPclntab)
}

// window reads little-endian words of a table of size bytes at base in the
// file, funcWindow bytes at a time: tables read in order.
type window struct {
	r          io.ReaderAt
	base, size uint64
	at         uint64 // offset in the table of buf[0]
	buf        []byte
}

func (w *window) uint32(off uint64) (uint32, error) {
	b, err := w.bytes(off, 4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (w *window) uint64(off uint64) (uint64, error) {
	b, err := w.bytes(off, 8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// bytes are the n bytes at off, n at most funcWindow.
func (w *window) bytes(off, n uint64) ([]byte, error) {
	if off > w.size || w.size-off < n {
		return nil, fmt.Errorf("table: offset %d beyond its %d bytes", off, w.size)
	}
	if off < w.at || off+n > w.at+uint64(len(w.buf)) {
		fill := min(funcWindow, w.size-off)
		if w.buf == nil {
			w.buf = make([]byte, funcWindow)
		}
		w.at = off
		w.buf = w.buf[:fill]
		if _, err := w.r.ReadAt(w.buf, int64(w.base+off)); err != nil {
			return nil, fmt.Errorf("table: %w", err)
		}
	}
	return w.buf[off-w.at:][:n], nil
}
