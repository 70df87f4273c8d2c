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
	return schedstat(t, "/proc/thread-self/schedstat")
}

// ProcessCPUTime is the CPU time all threads of process pid have run.
func ProcessCPUTime(t testing.TB, pid int) time.Duration {
	t.Helper()
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(files) == 0 {
		t.Fatalf("no threads of pid %d: %v", pid, err)
	}
	var sum time.Duration
	for _, f := range files {
		sum += schedstat(t, f)
	}
	return sum
}

func schedstat(t testing.TB, path string) time.Duration {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ns int64
	if _, err := fmt.Sscan(string(b), &ns); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return time.Duration(ns)
}
