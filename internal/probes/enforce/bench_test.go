package enforce

import (
	"fmt"
	"net/netip"
	"strings"
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
// selected cgroup. With 0 policies the programs are not attached. The
// argsContain cases are the exec of /bin/true with arguments under a rule
// on /bin/true whose strings it does not hold (argv is searched to the
// end): against the same exec under a rule on another path. Run as root:
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
	benchArgsContain(b, f, cg)
}

// benchArgsContain: check_exec's cost with argsContain rules that the
// exec's path matches and its arguments do not: 1 or 8 strings, a short
// argv or one of ~1 KiB (all that is searched), and the worst case: 8
// strings of 64 bytes that agree with argv up to their last byte
// everywhere.
func benchArgsContain(b *testing.B, f *fixture, cg *testutil.Cgroup) {
	short := []string{"-v", "/tmp/some-file"}
	long := make([]string, MaxSearchedArgs-1)
	for i := range long {
		long[i] = fmt.Sprintf("--option-%02d=%s", i, strings.Repeat("v", 52))
	}
	same := make([]string, MaxSearchedArgs-1)
	for i := range same {
		same[i] = strings.Repeat("a", 65)
	}
	strs := func(n int, format string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf(format, i)
		}
		return out
	}
	for _, c := range []struct {
		name    string
		path    string
		strings []string
		args    []string
	}{
		{"path-only/argv=short", "/opt/other", strs(1, "forbidden-%d"), short},
		{"strings=1/argv=short", "/bin/true", strs(1, "forbidden-%d"), short},
		{"strings=8/argv=short", "/bin/true", strs(8, "forbidden-%d"), short},
		{"path-only/argv=1KiB", "/opt/other", strs(1, "forbidden-%d"), long},
		{"strings=1/argv=1KiB", "/bin/true", strs(1, "forbidden-%d"), long},
		{"strings=8/argv=1KiB", "/bin/true", strs(8, "forbidden-%d"), long},
		{"strings=8/argv=1KiB/worst", "/bin/true", strs(8, strings.Repeat("a", 63)+"%d"), same},
	} {
		set := Set{Policies: []Policy{{Name: "p", Enforce: true, Exec: []ExecRule{{Paths: []string{c.path, "/usr/bin/true"}, ArgsContain: c.strings, Kill: true}}}},
			Cgroups: map[uint64][]int{cg.ID: {0}}}
		if c.path != "/bin/true" {
			set.Policies[0].Exec[0].Paths = []string{c.path}
		}
		if err := f.probe.Apply(set); err != nil {
			b.Fatal(err)
		}
		b.Run("argsContain/"+c.name+"/exec", func(b *testing.B) {
			before := progStats(b, f.probe.bpf.CheckExec)
			for b.Loop() {
				if err := cg.Run(b, "/bin/true", c.args...); err != nil {
					b.Fatal(err)
				}
			}
			report(b, before, progStats(b, f.probe.bpf.CheckExec))
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
