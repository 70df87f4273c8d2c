package enforce

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/testutil"
)

// BenchmarkPolicyChecks is what an exec and a connect cost in the kernel
// with 0, 1 and 100 policies (each with an exec and a connect rule that
// this workload's operations do not match), all selecting the workload
// (the worst case: each is compiled into its selection's tables):
// check_exec's and check_connect_v4's run time per run (BPF statistics),
// and the wall time of an exec of /bin/true and of a loopback connect in a
// selected cgroup. With 0 policies the programs are not attached. Run as
// root:
//
//	go test ./internal/probes/enforce -run '^$' -bench PolicyChecks -benchtime 2000x
func BenchmarkPolicyChecks(b *testing.B) {
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Skipf("BPF statistics: %v", err)
	}
	defer stats.Close()
	f := start(b)
	cg := testutil.NewCgroup(b)
	ln := testutil.AcceptAll(b)
	for _, n := range []int{0, 1, 100} {
		set := Set{Cgroups: map[uint64][]int{}}
		for i := range n {
			set.Policies = append(set.Policies, Policy{Name: fmt.Sprintf("p%d", i), Enforce: true,
				Exec:    []ExecRule{{Paths: []string{fmt.Sprintf("/opt/p%d/bin", i)}, Kill: true}},
				Connect: []ConnectRule{{CIDRs: []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", i))}, TCP: true, UDP: true, Deny: true}}})
			set.Cgroups[cg.ID] = append(set.Cgroups[cg.ID], i)
		}
		if err := f.probe.Apply(set); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("policies=%d/exec", n), func(b *testing.B) {
			before := progStats(b, f.probe.bpf.CheckExec)
			for b.Loop() {
				cg.Run(b, "/bin/true")
			}
			report(b, before, progStats(b, f.probe.bpf.CheckExec))
		})
		b.Run(fmt.Sprintf("policies=%d/connect", n), func(b *testing.B) {
			before := progStats(b, f.probe.bpf.CheckConnectV4)
			for b.Loop() {
				if err := cg.Helper(b, "connect", ln.String()).Run(); err != nil {
					b.Fatal(err)
				}
			}
			report(b, before, progStats(b, f.probe.bpf.CheckConnectV4))
		})
	}
}

func progStats(b *testing.B, p *ebpf.Program) ebpf.ProgramStats {
	st, err := p.Stats()
	if err != nil {
		b.Fatal(err)
	}
	return *st
}

// report adds the BPF time per run of the program over the benchmark.
func report(b *testing.B, before, after ebpf.ProgramStats) {
	if runs := after.RunCount - before.RunCount; runs > 0 {
		b.ReportMetric(float64((after.Runtime-before.Runtime).Nanoseconds())/float64(runs), "bpf-ns/run")
		b.ReportMetric(float64(runs)/float64(b.N), "runs/op")
	}
}
