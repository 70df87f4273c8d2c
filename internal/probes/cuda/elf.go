package cuda

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
)

// endbr64 is the instruction that starts functions built with
// -fcf-protection (CET). A uprobe on it is single-stepped, ~20x slower than
// one on the next instruction, which the kernel emulates (push).
var endbr64 = []byte{0xf3, 0x0f, 0x1e, 0xfa}

// functionOffsets returns the file offset to probe for each of the wanted
// functions the ELF file defines: the symbol's offset, plus 4 when the
// function starts with endbr64. Functions it lacks are left out.
func functionOffsets(r io.ReaderAt, wanted []string) (map[string]uint64, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("parse ELF: %w", err)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return nil, fmt.Errorf("dynamic symbols: %w", err)
	}
	want := make(map[string]bool, len(wanted))
	for _, w := range wanted {
		want[w] = true
	}
	out := map[string]uint64{}
	for _, s := range syms {
		if !want[s.Name] || elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Section == elf.SHN_UNDEF {
			continue
		}
		off, ok := fileOffset(f, s.Value)
		if !ok {
			continue
		}
		head := make([]byte, len(endbr64))
		if _, err := r.ReadAt(head, int64(off)); err == nil && bytes.Equal(head, endbr64) && s.Size > uint64(len(endbr64)) {
			off += uint64(len(endbr64))
		}
		out[s.Name] = off
	}
	return out, nil
}

// fileOffset converts a virtual address to its offset in the file through the
// executable segment that contains it.
func fileOffset(f *elf.File, vaddr uint64) (uint64, bool) {
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && p.Vaddr <= vaddr && vaddr < p.Vaddr+p.Filesz {
			return vaddr - p.Vaddr + p.Off, true
		}
	}
	return 0, false
}
