package testutil

import "github.com/cilium/ebpf"

// BPFNsPerRun is the mean run time in nanoseconds of programs, from the
// kernel's BPF statistics (on while an ebpf.EnableStats handle is open);
// ok is false when they did not run.
func BPFNsPerRun(programs map[string]*ebpf.Program) (ns float64, ok bool) {
	var runtime, runs uint64
	for _, prog := range programs {
		if st, err := prog.Stats(); err == nil {
			runtime += uint64(st.Runtime.Nanoseconds())
			runs += st.RunCount
		}
	}
	if runs == 0 {
		return 0, false
	}
	return float64(runtime) / float64(runs), true
}
