package cuda

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/probe/uprobe"
)

// OpenMapped reaches only the file the mapping names, inside the process's
// root, whatever the container put on the way. proc/1/root stands for a
// process's root; its parent holds a host file it must never open.
func TestOpenMappedStaysInTheRootAndOnTheFile(t *testing.T) {
	proc := t.TempDir()
	root := filepath.Join(proc, "1", "root")
	secret := filepath.Join(proc, "secret.so")
	secretID := writeFile(t, secret, "host file")
	libID := writeFile(t, filepath.Join(root, "lib", "libcuda.so.1"), "library")
	otherID := writeFile(t, filepath.Join(root, "lib", "other.so"), "another library")
	for _, link := range []struct{ name, target string }{
		{"lib/abs-link.so", secret},               // absolute: the host's file if resolved from the agent's root
		{"lib/rel-link.so", "../../../secret.so"}, // relative, climbing out
		{"lib/in-root-link.so", "libcuda.so.1"},   // even a link to the right file
		{"dirlink", "lib"},                        // a link as a directory on the way
	} {
		if err := os.Symlink(link.target, filepath.Join(root, link.name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(root, "lib", "fifo.so"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifoID := statID(t, filepath.Join(root, "lib", "fifo.so"))

	for _, tc := range []struct {
		path string
		id   uprobe.FileID
	}{
		{"/lib/abs-link.so", secretID},
		{"/lib/rel-link.so", secretID},
		{"/lib/in-root-link.so", libID},
		{"/dirlink/libcuda.so.1", libID},
		{"/../secret.so", secretID}, // ".." stops at the root
		{"/lib/../../secret.so", secretID},
		{"/lib/fifo.so", fifoID},       // opening it for reading would block
		{"/lib/other.so", libID},       // the path now names another file
		{"/lib/libcuda.so.1", otherID}, // or the mapped file was replaced
		{"/lib/libcuda.so.1", uprobe.FileID{Dev: libID.Dev + 1, Inode: libID.Inode}}, // same inode, another file system
	} {
		within(t, "OpenMapped "+tc.path, func() {
			if f, err := uprobe.OpenMapped(proc, 1, uprobe.Mapping{ID: tc.id, Path: tc.path}); err == nil {
				f.Close()
				t.Errorf("opened %s as %v", tc.path, tc.id)
			} else {
				t.Logf("%s: %v", tc.path, err)
			}
		})
	}

	f, err := uprobe.OpenMapped(proc, 1, uprobe.Mapping{ID: libID, Path: "/lib/libcuda.so.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if data, err := io.ReadAll(f); err != nil || string(data) != "library" {
		t.Fatalf("read %q, %v", data, err)
	}
	// The descriptor's path leads to the file opened, whatever its path becomes.
	if err := os.Rename(filepath.Join(root, "lib", "libcuda.so.1"), filepath.Join(root, "lib", "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(root, "lib", "libcuda.so.1")); err != nil {
		t.Fatal(err)
	}
	if id := statID(t, uprobe.FDPath(int(f.Fd()))); id != libID {
		t.Fatalf("%s is %v after the swap, want %v", uprobe.FDPath(int(f.Fd())), id, libID)
	}
}
