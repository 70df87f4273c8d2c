package cgroup

import (
	"encoding/binary"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// walkDirIDs is what Walk reports, found the slow way: filepath.WalkDir
// and a stat of every directory.
func walkDirIDs(t testing.TB, root string) map[string]uint64 {
	got := map[string]uint64{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil // removed while walking
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		got[relative(root, p)] = info.Sys().(*syscall.Stat_t).Ino
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func walkIDs(t testing.TB, root string) (map[string]uint64, []string) {
	got := map[string]uint64{}
	var order []string
	if err := Walk(root, func(id uint64, path string) {
		got[path] = id
		order = append(order, path)
	}); err != nil {
		t.Fatal(err)
	}
	return got, order
}

// TestWalkFindsEveryDirectory: every directory once with its inode, a
// directory before the ones under it, files and links to directories
// passed over, on a tree of our own and on the host's cgroup2 tree.
func TestWalkFindsEveryDirectory(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a/b/c", "a/d", "e", "f g/h\nnewline"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"file", "a/cpu.stat", "a/b/memory.current"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "a"), filepath.Join(root, "e", "link")); err != nil {
		t.Fatal(err)
	}
	got, order := walkIDs(t, root)
	want := walkDirIDs(t, root)
	if len(want) != 8 || !maps.Equal(got, want) || len(order) != len(want) {
		t.Fatalf("Walk found %v (%d calls), want %v", got, len(order), want)
	}
	pos := map[string]int{}
	for i, p := range order {
		pos[p] = i
	}
	for p := range got {
		if parent := filepath.Dir(p); p != "/" && pos[parent] > pos[p] {
			t.Errorf("%s reported before its parent %s", p, parent)
		}
	}
	if mount, err := FindMount(); err == nil {
		got, _ := walkIDs(t, mount)
		want := walkDirIDs(t, mount)
		// Cgroups made or removed between the two walks: others' tests.
		same := 0
		for p, id := range want {
			if got[p] == id {
				same++
			}
		}
		if same < len(want)*9/10 || got["/"] != want["/"] {
			t.Fatalf("host tree: %d of %d cgroups agree, root %d vs %d", same, len(want), got["/"], want["/"])
		}
	}
}

func TestWalkMissingRoot(t *testing.T) {
	if err := Walk(filepath.Join(t.TempDir(), "gone"), func(uint64, string) {}); err == nil {
		t.Fatal("no error for a root that does not exist")
	}
}

// FuzzParseDirent: any buffer gives an entry within it or a refusal.
func FuzzParseDirent(f *testing.F) {
	entry := make([]byte, 24)
	binary.NativeEndian.PutUint64(entry, 42)
	binary.NativeEndian.PutUint16(entry[16:], 24)
	entry[18] = 4
	copy(entry[19:], "abc")
	f.Add(entry)
	f.Add(entry[:18])
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, name, reclen, ok := parseDirent(b)
		if ok && (reclen > len(b) || reclen < 19 || len(name) > reclen-19) {
			t.Fatalf("entry of %d bytes (name %q) in %d", reclen, name, len(b))
		}
	})
}

// BenchmarkWalkHostTree: one walk of this host's cgroup2 tree, by Walk and
// by filepath.WalkDir with a stat per directory (what Walk replaced).
func BenchmarkWalkHostTree(b *testing.B) {
	mount, err := FindMount()
	if err != nil {
		b.Skip(err)
	}
	b.Run("getdents", func(b *testing.B) {
		for b.Loop() {
			walkIDs(b, mount)
		}
	})
	b.Run("walkdir", func(b *testing.B) {
		for b.Loop() {
			walkDirIDs(b, mount)
		}
	})
}
