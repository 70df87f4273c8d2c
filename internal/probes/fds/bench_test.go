package fds

import (
	"context"
	"log/slog"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

// benchProcesses is how many extra processes the scan benchmark runs with.
const benchProcesses = 2000

// BenchmarkScan measures one fd scan (iterator run, records summed per
// workload, leak trends updated) with benchProcesses extra processes alive.
func BenchmarkScan(b *testing.B) {
	testutil.RequireRoot(b)
	for range benchProcesses {
		pid, err := forkSleeper()
		if err != nil {
			b.Fatalf("fork: %v", err)
		}
		b.Cleanup(func() {
			syscall.Kill(pid, syscall.SIGKILL)
			syscall.Wait4(pid, nil, 0, nil)
		})
	}
	res := testutil.Resolver(b)
	p := New()
	p.interval = time.Hour // the benchmark scans by itself
	if err := p.Start(context.Background(), probe.Env{Resolver: res, Log: slog.Default(), CgroupRoot: res.Root()}); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatal(err)
	}
	defer stats.Close()
	prog := p.bpf.CountFds
	before, err := prog.Stats()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := p.scan.scan(time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	after, err := prog.Stats()
	if err != nil {
		b.Fatal(err)
	}
	// The BPF program's own share of a scan; the rest is the kernel's task
	// walk, the copy to user space and the Go side.
	b.ReportMetric(float64((after.Runtime-before.Runtime).Nanoseconds())/float64(b.N), "bpf-ns/op")
	b.ReportMetric(float64(len(p.scan.out.Bytes())/int(unsafe.Sizeof(fdsFdRecord{}))), "processes")
}

// forkSleeper forks a child that only sleeps in pause(2): a cheap process
// (it shares the parent's memory copy-on-write) that never returns to Go.
func forkSleeper() (int, error) {
	pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	if pid == 0 {
		for {
			syscall.RawSyscall6(syscall.SYS_PPOLL, 0, 0, 0, 0, 0, 0) // pause(2), which arm64 lacks
		}
	}
	return int(pid), nil
}
