package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds the orb8 binary once per test process and returns its
// path; it lives until the process ends (in a temporary directory the OS
// cleans).
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "orb8-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "orb8")
		if out, err := exec.Command("go", "build", "-o", binPath, "github.com/orb8/orb8/cmd/orb8").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build orb8: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}
