package main

import (
	"errors"
	"io"
	"os"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// enableBPFStats turns on kernel run-time accounting of every BPF program
// while the suite runs, so bpftrace's in-kernel cost is measured too.
func enableBPFStats() (io.Closer, error) {
	return ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
}

// bpfKernelSeconds is the run time of every BPF program loaded now.
func bpfKernelSeconds() float64 {
	var total float64
	id := ebpf.ProgramID(0)
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) || err != nil {
			return total
		}
		id = next
		prog, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue // unloaded meanwhile
		}
		if st, err := prog.Stats(); err == nil {
			total += st.Runtime.Seconds()
		}
		prog.Close()
	}
}
