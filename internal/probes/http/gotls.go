package http

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/orb8/orb8/internal/probe/uprobe"
)

// HTTPS through Go's crypto/tls (gotls.bpf.h): every process's executable
// (at exec, and the running ones at start) that is a Go program with
// crypto/tls.(*Conn).Write and Read in its symbol table gets uprobes on
// their entries and on each RET of Read, no return probes.

// goTLSFeature is what the Go programs give, where they do not load.
const goTLSFeature = "HTTPS through Go's crypto/tls (uprobes in Go executables)"

// goTLSWrite and goTLSRead are the hooked functions.
const (
	goTLSWrite = "crypto/tls.(*Conn).Write"
	goTLSRead  = "crypto/tls.(*Conn).Read"
)

// maxGoExecutables bounds the Go executables hooked at once.
const maxGoExecutables = 256

// goTLSPrograms are the loaded Go programs; nil where Go executables are
// not hooked.
type goTLSPrograms struct {
	write, readEnter, readReturn *ebpf.Program
}

// goTLSPrograms returns the Go programs if they loaded and this machine is
// one whose Go functions are found (uprobe.GoFunctions: amd64), saying once
// why not otherwise.
func (p *Probe) goTLSPrograms() goTLSPrograms {
	b := &p.bpf
	write, readReturn := loaded(b.GoTlsWrite, b.GoTlsWriteH1), loaded(b.GoTlsReadReturn, b.GoTlsReadReturnH1)
	if write == nil || b.GoTlsReadEnter == nil || readReturn == nil || b.GoTlsWatchExec == nil {
		return goTLSPrograms{} // in Objects().Failed with goTLSFeature
	}
	if runtime.GOARCH != "amd64" {
		p.env.Log.Warn("Go crypto/tls not hooked: Go executables are probed on amd64 only", "arch", runtime.GOARCH)
		return goTLSPrograms{}
	}
	return goTLSPrograms{write: write, readEnter: b.GoTlsReadEnter, readReturn: readReturn}
}

// attachGo hooks a process's executable if it is a Go program that uses
// crypto/tls; errNothingToHook if not (most executables). Every Read RET
// is single-stepped (slow).
func (h *tlsHooks) attachGo(pid int, m uprobe.Mapping) (links []link.Link, slow []string, err error) {
	f, err := uprobe.OpenMapped(h.proc, pid, m)
	if err != nil {
		return nil, nil, errors.Join(errUnreachable, err)
	}
	defer f.Close() // the uprobes hold the file themselves
	fns, err := uprobe.ParseGoFile(f, []string{goTLSWrite, goTLSRead})
	write, okWrite := fns[goTLSWrite]
	read, okRead := fns[goTLSRead]
	switch {
	case errors.Is(err, uprobe.ErrNotRegisterABI):
		return nil, nil, err // crypto/tls in Go before 1.17: said in the log
	case !okWrite || !okRead:
		return nil, nil, fmt.Errorf("%w: no crypto/tls (*Conn).Write and Read found (%v)", errNothingToHook, err)
	}
	ex, err := link.OpenExecutable(uprobe.FDPath(int(f.Fd())))
	if err != nil {
		return nil, nil, err
	}
	uprobe := func(prog *ebpf.Program, symbol string, offset uint64) error {
		l, err := ex.Uprobe(symbol, prog, &link.UprobeOptions{Address: offset})
		if err == nil {
			links = append(links, l)
		}
		return err
	}
	err = errors.Join(uprobe(h.goProgs.write, goTLSWrite, write.Entry), uprobe(h.goProgs.readEnter, goTLSRead, read.Entry))
	for _, ret := range read.Returns {
		err = errors.Join(err, uprobe(h.goProgs.readReturn, goTLSRead, ret))
	}
	if err != nil {
		closeLinks(links)
		return nil, nil, err
	}
	return links, []string{fmt.Sprintf("%d RETs of %s", len(read.Returns), goTLSRead)}, nil
}
