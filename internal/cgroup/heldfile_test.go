package cgroup

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFilesHeldWithinBudget: files are held open up to the budget and read
// by path past it, with the same contents; closing one frees its place.
func TestFilesHeldWithinBudget(t *testing.T) {
	defer func(limit int64) { heldLimit = limit }(heldLimit)
	heldLimit = held.Load() + 2
	dir := t.TempDir()
	var files []*File
	for i, content := range []string{"1\n", "22\n", "333\n"} {
		path := filepath.Join(dir, string(rune('a'+i)))
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		if b, err := f.Read(make([]byte, 64)); err != nil || string(b) != content {
			t.Errorf("file %d read %q, %v; want %q", i, b, err, content)
		}
	}
	if !files[0].Held() || !files[1].Held() || files[2].Held() {
		t.Fatalf("held: %v %v %v, want the first two only", files[0].Held(), files[1].Held(), files[2].Held())
	}
	files[0].Close()
	again, err := OpenFile(filepath.Join(dir, "a"))
	if err != nil || !again.Held() {
		t.Errorf("a file opened after one closed is not held: %v", err)
	}
	if _, err := OpenFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file opened")
	}
	os.Remove(filepath.Join(dir, "c"))
	if _, err := files[2].Read(make([]byte, 64)); err == nil {
		t.Error("a removed file that is not held still reads")
	}
	for _, f := range append(files, again) {
		f.Close()
	}
}
