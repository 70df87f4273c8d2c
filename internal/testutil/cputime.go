package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ThreadCPUTime is the CPU time the calling OS thread has run (lock it with
// runtime.LockOSThread), in ns precision from schedstat. Unlike wall time it
// leaves out time others ran on the CPU, so benchmarks on a busy machine
// stay comparable.
func ThreadCPUTime(t testing.TB) time.Duration {
	t.Helper()
	d, err := schedstat("/proc/thread-self/schedstat")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// ProcessCPUTime is the CPU time all threads of process pid have run.
func ProcessCPUTime(t testing.TB, pid int) time.Duration {
	t.Helper()
	d, err := ProcessCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// ProcessCPU is ProcessCPUTime for callers outside tests (the bench
// harness): ns precision, where /proc/<pid>/stat counts 10 ms ticks.
// Threads that ended are not counted (a Go process keeps its threads).
func ProcessCPU(pid int) (time.Duration, error) {
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(files) == 0 {
		return 0, fmt.Errorf("no threads of pid %d: %v", pid, err)
	}
	var sum time.Duration
	for _, f := range files {
		d, err := schedstat(f)
		if err != nil && !os.IsNotExist(err) { // a thread may end between the glob and the read
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

func schedstat(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var ns int64
	if _, err := fmt.Sscan(string(b), &ns); err != nil {
		return 0, fmt.Errorf("%s: %v", path, err)
	}
	return time.Duration(ns), nil
}
