package uprobe

import (
	"cmp"
	"debug/elf"
	"errors"
	"io"
	"slices"
)

// Symbolize names the functions at some file offsets of an ELF64 file of
// size bytes (a launch's host-side kernel pointer, less its mapping's
// start, plus the mapping's offset): by the full symbol table when the
// file has one (executables keep their kernels' host stubs there), and the
// dynamic one. Offsets outside every executable segment or function are
// left out. Bounded like FunctionOffsets: one string table and one chunk of
// symbols held at a time, whatever the file claims.
func Symbolize(r io.ReaderAt, size int64, offsets []uint64) (map[uint64]string, error) {
	f, err := readELF(r, size)
	if err != nil {
		return nil, err
	}
	// Each offset as the address the symbols use.
	type want struct{ vaddr, offset uint64 }
	var wants []want
	for _, off := range offsets {
		for _, s := range f.segs {
			if off >= s.off && off-s.off < s.filesz {
				wants = append(wants, want{off - s.off + s.vaddr, off})
				break
			}
		}
	}
	slices.SortFunc(wants, func(a, b want) int { return cmp.Compare(a.vaddr, b.vaddr) })
	out := map[uint64]string{}
	var errs []error
	for _, typ := range []elf.SectionType{elf.SHT_SYMTAB, elf.SHT_DYNSYM} {
		err := f.functions(typ, func(name []byte, value, size uint64) {
			if len(name) == 0 {
				return
			}
			// The first wanted address at or above the symbol's.
			i, _ := slices.BinarySearchFunc(wants, value, func(w want, v uint64) int { return cmp.Compare(w.vaddr, v) })
			for ; i < len(wants) && (wants[i].vaddr == value || wants[i].vaddr-value < size); i++ {
				if _, ok := out[wants[i].offset]; !ok {
					out[wants[i].offset] = string(name)
				}
			}
		})
		if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
			errs = append(errs, err)
		}
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
