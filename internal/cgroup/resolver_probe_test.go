package cgroup

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestLookupByHandle(t *testing.T) {
	root, err := FindMount()
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewResolver(root, 100000)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := filepath.Join(root, "orb8-test-handle")
	os.Remove(dir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	if got := r.Lookup(st.Ino).Path; got != "/orb8-test-handle" {
		t.Fatalf("Lookup(%d).Path = %q, want /orb8-test-handle", st.Ino, got)
	}
}
