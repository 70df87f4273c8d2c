package cuda

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/testutil"
)

// A scrape does not wait while a library is being parsed and attached, and a
// second ensure of the same file does not attach it again. The "library" is
// a FIFO, so the first ensure blocks opening it until the test lets it go.
func TestEnsureAttachesOutsideTheLock(t *testing.T) {
	proc := t.TempDir()
	lib := filepath.Join(proc, "1", "root", "usr", "lib", "libcuda.so.1")
	if err := os.MkdirAll(filepath.Dir(lib), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(lib, 0o600); err != nil {
		t.Fatal(err)
	}
	a := newAttacher(programs{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a.proc = proc
	m := mappedFile{id: fileID{dev: unix.Mkdev(0, 1), inode: 1}, path: "/usr/lib/libcuda.so.1"}

	first := make(chan struct{})
	go func() { a.ensure(1, m); close(first) }()
	// Should it fail, the first ensure is let go (a waiting reader is there).
	t.Cleanup(func() {
		if w, err := os.OpenFile(lib, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	})
	reserved := func() bool {
		if !a.mu.TryLock() { // held: the lock is taken while attaching
			return false
		}
		defer a.mu.Unlock()
		return a.libs[m.id] != nil
	}
	testutil.Eventually(t, 2*time.Second, reserved, "the file was not reserved with the lock free")

	within(t, "attached() while a library is being attached", func() {
		if got := a.attached(); len(got) != 0 {
			t.Errorf("attached = %v while attaching, want none", got)
		}
	})
	// Were it to attach again, it would block opening the FIFO too.
	within(t, "a second ensure of the file being attached", func() { a.ensure(1, m) })

	w, err := os.OpenFile(lib, os.O_WRONLY, 0) // lets the first ensure's open go
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	within(t, "the first ensure", func() { <-first })
	// The FIFO's inode is not the mapping's: recorded as failed, not retried.
	if n, got := len(a.libs), a.attached(); n != 1 || len(got) != 0 {
		t.Fatalf("%d files recorded, attached %v; want 1 recorded, none attached", n, got)
	}
}

func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { fn(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatalf("%s blocked", what)
	}
}
