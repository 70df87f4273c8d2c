package uprobe

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/arch/x86/x86asm"
)

// Go functions are probed without return probes: a uretprobe replaces the
// return address on the goroutine's stack, which the Go runtime copies
// elsewhere when the stack grows and reads to unwind it, so the program may
// crash. A function's return is probed at each of its RET instructions
// instead, found by decoding its code: Go puts no data among instructions,
// so decoding from the start meets every instruction boundary.

// maxGoFunction bounds the code read of one function (crypto/tls's Read and
// Write: ~1 KiB each).
const maxGoFunction = 64 << 10

// GoFunction is where to probe a function of a Go executable for amd64
// built with the register ABI (Go 1.17 on).
type GoFunction struct {
	// Entry is the file offset of the conditional jump of the function's
	// stack check, its second or third instruction: the kernel emulates a
	// jump (a probe on the first instruction, a compare, is single-stepped,
	// ~20x dearer) and the arguments are still in their registers there.
	// When the stack must grow the jump is taken and the function starts
	// again: the probe fires twice for that call.
	Entry uint64
	// Returns are the file offsets of its RET instructions, which the kernel
	// single-steps.
	Returns []uint64
}

// ErrNotRegisterABI: the function does not start with the stack check of
// Go's register ABI (g in r14), so its arguments are not where the probes
// read them: Go before 1.17, or not Go.
var ErrNotRegisterABI = errors.New("no stack check of Go's register ABI (Go 1.17+) at the function's start")

// GoFunctions finds the wanted functions of an x86-64 ELF file of size
// bytes, in Go's function table (.gopclntab, Go 1.18 on, kept by stripped
// executables) or else the full symbol table (.symtab), and their probe
// points. A function missing, outside an executable segment, longer than
// maxGoFunction or whose code does not decode is left out. Bounded like
// FunctionOffsets. A file with neither table: the error wraps
// elf.ErrNoSymbols.
func GoFunctions(r io.ReaderAt, size int64, wanted []string) (map[string]GoFunction, error) {
	f, err := readELF(r, size)
	if err != nil {
		return nil, err
	}
	if f.machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("machine %v: Go functions are probed on x86-64 only", f.machine)
	}
	want := make(map[string]bool, len(wanted))
	for _, w := range wanted {
		want[w] = true
	}
	type symbol struct{ vaddr, size uint64 }
	found := map[string]symbol{}
	err = f.pclntabFunctions(want, func(name string, vaddr, size uint64) { found[name] = symbol{vaddr, size} })
	if errors.Is(err, errNoPclntab) {
		err = f.functions(elf.SHT_SYMTAB, func(name []byte, value, size uint64) {
			if want[string(name)] {
				found[string(name)] = symbol{value, size}
			}
		})
	}
	if err != nil {
		return nil, err
	}
	out := map[string]GoFunction{}
	var errs []error
	for name, sym := range found {
		off, code, err := f.code(sym.vaddr, sym.size)
		if err == nil {
			var fn GoFunction
			if fn, err = probeGo(code); err == nil {
				fn.Entry += off
				for i := range fn.Returns {
					fn.Returns[i] += off
				}
				out[name] = fn
				continue
			}
		}
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// code reads a function's code and returns it with its file offset.
func (f *elfFile) code(vaddr, size uint64) (uint64, []byte, error) {
	if size == 0 || size > maxGoFunction {
		return 0, nil, fmt.Errorf("%d bytes of code, want 1 to %d", size, maxGoFunction)
	}
	for _, seg := range f.segs {
		if vaddr < seg.vaddr || vaddr-seg.vaddr >= seg.filesz || size > seg.filesz-(vaddr-seg.vaddr) {
			continue
		}
		off := vaddr - seg.vaddr + seg.off
		code := make([]byte, size)
		if _, err := f.r.ReadAt(code, int64(off)); err != nil {
			return 0, nil, err
		}
		return off, code, nil
	}
	return 0, nil, errors.New("not in an executable segment")
}

// probeGo finds the probe points in a function's code, as offsets in it.
// The register ABI's stack check is, for a frame under a page,
//
//	CMP RSP, [R14+0x10]; JBE more
//
// and for a larger one LEA R12, [RSP-frame] first and R12 compared.
// Neither touches an argument register.
func probeGo(code []byte) (GoFunction, error) {
	var fn GoFunction
	checked := false
	off := 0
	for i := 0; ; i++ {
		inst, err := x86asm.Decode(code[off:], 64)
		if err != nil || i == 3 {
			return fn, ErrNotRegisterABI
		}
		if checked && inst.Op == x86asm.JBE && (code[off] == 0x76 || code[off] == 0x0f) {
			fn.Entry = uint64(off)
			break
		}
		switch {
		case i == 0 && inst.Op == x86asm.LEA && inst.Args[0] == x86asm.R12:
		case !checked && inst.Op == x86asm.CMP && (inst.Args[0] == x86asm.RSP || inst.Args[0] == x86asm.R12) && gField(inst.Args[1]):
			checked = true
		default:
			return fn, ErrNotRegisterABI
		}
		off += inst.Len
	}
	for off := 0; off < len(code); {
		inst, err := x86asm.Decode(code[off:], 64)
		if err != nil {
			return fn, fmt.Errorf("decode the instruction at +%#x: %w", off, err)
		}
		if inst.Op == x86asm.RET {
			if code[off] != 0xc3 {
				return fn, fmt.Errorf("a RET of another form (% x) at +%#x", code[off:off+inst.Len], off)
			}
			fn.Returns = append(fn.Returns, uint64(off))
		}
		off += inst.Len
	}
	if len(fn.Returns) == 0 {
		return fn, errors.New("no RET instruction")
	}
	return fn, nil
}

// gField: the operand is a field of the goroutine's runtime.g, which the
// register ABI keeps in r14 (the stack bound, at 0x10).
func gField(a x86asm.Arg) bool {
	m, ok := a.(x86asm.Mem)
	return ok && m.Base == x86asm.R14 && m.Index == 0 && m.Segment == 0
}

// ParseGoFile is GoFunctions on an open executable (OpenMapped), a parser
// bug costing this file, not the agent.
func ParseGoFile(f *os.File, wanted []string) (map[string]GoFunction, error) {
	return parseOpen(f, wanted, GoFunctions)
}
