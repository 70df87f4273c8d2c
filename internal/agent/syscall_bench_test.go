package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/orb8/orb8/internal/testutil"
)

// BenchmarkUntracedSyscall is what the agent adds to a syscall that none of
// its probes traces (getppid), with each default probe alone and with all of
// them. A probe that hooks any syscall tracepoint, even for one syscall, puts
// every syscall of the node on the kernel's tracing slow path; this shows it.
// Each set starts a fresh agent; values are medians of the thread's CPU time
// over rounds. Run with -benchtime=Nx for N rounds.
func BenchmarkUntracedSyscall(b *testing.B) {
	testutil.RequireRoot(b)
	sets := append([]string{"none", "default"}, defaultProbeNames()...)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	samples := testutil.GetppidRounds(b, sets, 200000, func(set string) func() {
		if set == "none" {
			return func() {}
		}
		cfg := DefaultConfig()
		cfg.Probes = []string{set}
		a, err := New(cfg, log)
		if err != nil {
			b.Fatal(err)
		}
		a.Start(context.Background())
		return func() {
			if err := a.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	base := testutil.Median(samples["cpu-none"])
	b.ReportMetric(base, "ns/call-none")
	for _, set := range sets[1:] {
		b.ReportMetric(testutil.Median(samples["cpu-"+set])-base, "ns-added-"+set)
	}
}
