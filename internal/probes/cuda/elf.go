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

// probePoint is where a function is probed.
type probePoint struct {
	offset uint64 // in the file
	// textOffset is its offset in the executable segment that holds it, of
	// textSize bytes: the probe's address less textOffset is where that
	// segment starts in a process.
	textOffset, textSize uint64
	// emulated: the kernel emulates the instruction there (push, jmp, call,
	// nop) instead of single-stepping it, the ~20x more expensive path.
	emulated bool
}

// functionOffsets returns where to probe each of the wanted functions the ELF
// file defines: the symbol's offset, plus 4 when the function starts with
// endbr64. Functions it lacks are left out.
func functionOffsets(r io.ReaderAt, wanted []string) (map[string]probePoint, error) {
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
	out := map[string]probePoint{}
	for _, s := range syms {
		if !want[s.Name] || elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Section == elf.SHN_UNDEF {
			continue
		}
		seg := execSegment(f, s.Value)
		if seg == nil {
			continue
		}
		off := s.Value - seg.Vaddr + seg.Off
		head := make([]byte, len(endbr64)+2)
		if _, err := r.ReadAt(head, int64(off)); err != nil {
			continue
		}
		skip := uint64(0)
		if bytes.Equal(head[:len(endbr64)], endbr64) && s.Size > uint64(len(endbr64)) {
			skip = uint64(len(endbr64))
			head = head[len(endbr64):]
		}
		out[s.Name] = probePoint{
			offset:     off + skip,
			textOffset: s.Value + skip - seg.Vaddr,
			textSize:   seg.Memsz,
			emulated:   emulated(head),
		}
	}
	return out, nil
}

// execSegment is the executable segment that contains a virtual address, if any.
func execSegment(f *elf.File, vaddr uint64) *elf.Prog {
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && p.Vaddr <= vaddr && vaddr < p.Vaddr+p.Filesz {
			return p
		}
	}
	return nil
}

// emulated recognises the instructions x86 uprobes emulate without a
// single-step: push reg (with or without REX.B), jmp, call, nop.
func emulated(insn []byte) bool {
	if len(insn) >= 2 && insn[0] == 0x41 {
		insn = insn[1:]
	}
	switch b := insn[0]; {
	case b >= 0x50 && b <= 0x57, b == 0xe8, b == 0xe9, b == 0xeb, b == 0x90:
		return true
	}
	return false
}
