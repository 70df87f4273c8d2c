package testutil

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// ExecChain compiles execchain.c (a static program that re-execs itself N
// times) into a temporary directory and returns its path.
func ExecChain(t testing.TB) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "execchain", "execchain.c")
	bin := filepath.Join(t.TempDir(), "execchain")
	out, err := exec.Command("gcc", "-O2", "-static", "-nostdlib", "-fno-stack-protector", "-x", "c", "-o", bin, src).CombinedOutput()
	if err != nil {
		t.Fatalf("build execchain: %v\n%s", err, out)
	}
	return bin
}
