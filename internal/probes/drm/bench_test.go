package drm

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

// BenchmarkScanHostProc is one scan of this host's /proc: a readlink per fd
// of every process, fdinfo read and parsed only for DRM fds. On a host
// without a GPU it is the walk alone, the cost every node pays.
func BenchmarkScanHostProc(b *testing.B) {
	testutil.RequireRoot(b)
	res := testutil.Resolver(b)
	s := newScanner("/proc", res.Root(), "/sys/class", res)
	now := time.Now()
	for b.Loop() {
		now = now.Add(time.Second)
		s.scan(now)
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	b.ReportMetric(float64(len(fds)), "fds")
}

// BenchmarkParseFdinfo parses the xe fixture, the longest.
func BenchmarkParseFdinfo(b *testing.B) {
	in, err := os.ReadFile(filepath.Join("testdata", "fdinfo", "xe.txt"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, ok, err := ParseFdinfo(in); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
