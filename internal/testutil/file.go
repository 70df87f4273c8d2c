package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// TempFile writes body to a file of that name in the test's temporary
// directory and returns its path.
func TempFile(t testing.TB, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
