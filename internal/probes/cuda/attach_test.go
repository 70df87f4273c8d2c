package cuda

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/probe/uprobe"
)

// A scrape does not wait while a library is being parsed and attached, and a
// second ensure of the same file does not attach it again. The first ensure
// is held between opening the file and parsing it until the test lets it go.
func TestEnsureAttachesOutsideTheLock(t *testing.T) {
	a, m := notELFMapped(t)

	opened, release := make(chan struct{}, 2), make(chan struct{})
	setAfterOpen(t, func(int, uprobe.Mapping) { opened <- struct{}{}; <-release })
	first := make(chan struct{})
	go func() { a.ensure(1, m); close(first) }()
	var once sync.Once
	letGo := func() { once.Do(func() { close(release) }) }
	t.Cleanup(letGo) // should the test fail, the first ensure is let go
	within(t, "opening the file", func() { <-opened })

	within(t, "attached() while a library is being attached", func() {
		if got := a.attached(); len(got) != 0 {
			t.Errorf("attached = %v while attaching, want none", got)
		}
	})
	// Were it to attach again, it would open the file again.
	within(t, "a second ensure of the file being attached", func() { a.ensure(1, m) })
	if len(opened) != 0 {
		t.Fatal("a second ensure opened the file being attached")
	}

	letGo()
	within(t, "the first ensure", func() { <-first })
	// Not ELF: recorded as failed, with why, not retried.
	a.ensure(1, m)
	if n, got := len(a.libs), a.attached(); n != 1 || len(got) != 0 || a.libs[m.ID].err == nil || len(opened) != 0 {
		t.Fatalf("%d files recorded, attached %v, err %v, opened again: %v; want 1 recorded with its error, none attached",
			n, got, a.libs[m.ID].err, len(opened) != 0)
	}
}

// A process whose path no longer leads to the file it maps (it exited, or its
// container swapped the path) leaves no record: the file is not marked as
// failed for the other processes that map it.
func TestEnsureForgetsFilesItCannotReach(t *testing.T) {
	a, m := notELFMapped(t)
	a.ensure(2, m) // no such process
	a.ensure(1, uprobe.Mapping{ID: uprobe.FileID{Dev: m.ID.Dev, Inode: m.ID.Inode + 1}, Path: m.Path})
	if len(a.libs) != 0 {
		t.Fatalf("records %v left by files not reached", a.libs)
	}
	a.ensure(1, m)
	if h := a.libs[m.ID]; h == nil || h.err == nil {
		t.Fatalf("a reached file that is no ELF not recorded as failed: %+v", h)
	}
}

// notELFMapped is an attacher over a stand-in /proc whose process 1 maps a
// CUDA library file that is no ELF file.
func notELFMapped(t *testing.T) (*attacher, uprobe.Mapping) {
	t.Helper()
	proc := t.TempDir()
	m := uprobe.Mapping{Path: "/usr/lib/libcuda.so.1"}
	m.ID = writeFile(t, filepath.Join(proc, "1", "root", m.Path), "not an ELF file")
	a := newAttacher(programs{}, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a.proc = proc
	return a, m
}

// setAfterOpen sets the hook between opening a library file and attaching
// it for one test.
func setAfterOpen(t *testing.T, fn func(pid int, m uprobe.Mapping)) {
	t.Helper()
	afterOpen = fn
	t.Cleanup(func() { afterOpen = nil })
}

// writeFile writes a file, with the directories on its way, and returns its identity.
func writeFile(t *testing.T, path, content string) uprobe.FileID {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return statID(t, path)
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

// Only a scan of every process unhooks a library file no process maps: one
// that read some may have missed the one that maps it.
func TestOnlyAScanOfEveryProcessUnhooks(t *testing.T) {
	a, m := notELFMapped(t)
	a.ensure(1, m)
	a.scan(nil, false)
	if a.libs[m.ID] == nil {
		t.Fatal("a scan of some processes, none mapping the library, unhooked it")
	}
	a.scan(nil, true)
	if a.libs[m.ID] != nil {
		t.Fatal("a scan of every process, none mapping the library, kept it hooked")
	}
}

// Where the kernel runs no find_mappers, every full scan reads every
// process: the stand-in /proc's process 1, at each of eleven scans.
func TestFullScansReadEveryProcessWithoutFindMappers(t *testing.T) {
	a, _ := notELFMapped(t)
	for scan := 1; scan <= everyProcessScans+1; scan++ {
		pids, every, err := a.scanTargets()
		if err != nil || !every || !slices.Equal(pids, []int{1}) {
			t.Fatalf("scan %d reads %v (every process: %v), err %v; want [1], every process", scan, pids, every, err)
		}
	}
}
