package uprobe

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseMapsLineRejectsGarbage(t *testing.T) {
	for _, line := range []string{
		"libcuda.so",
		"7f00-7f01 r-xp 0 fd01 12 /x/libcuda.so",
		"7f00-7f01 r-xp 0 fd:01 twelve /x/libcuda.so",
		"7f00-7f01 r-xp 0 fg:01 12 /x/libcuda.so",
	} {
		if _, _, err := ParseMapsLine(line); err == nil {
			t.Errorf("ParseMapsLine(%q) accepted", line)
		}
	}
}

func FuzzParseMapsLine(f *testing.F) {
	for _, s := range []string{
		"7f00aa100000-7f00aa900000 r-xp 00100000 fd:01 1837 /usr/lib/libcuda.so.1",
		"7f00af000000-7f00af010000 rw-p 00000000 00:00 0 ",
		"7ffd5e3f0000-7ffd5e411000 rw-p 00000000 00:00 0 [stack]",
		"7f00ac000000-7f00ac010000 r-xp 00000000 00:2a 78 /opt/my libs/libcudart.so (deleted)",
		"", "a b c d e", "a b c d: 1 /",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, ok, err := ParseMapsLine(line)
		if err != nil && ok {
			t.Fatal("error and ok together")
		}
		if ok && (m.ID.Inode == 0 || !strings.HasPrefix(m.Path, "/") || !strings.Contains(line, m.Path)) {
			t.Fatalf("ParseMapsLine(%q) = %+v", line, m)
		}
	})
}

// TestMappedFilesSkipsLinesWithoutAllocating: a maps file of lines no
// prefix mentions costs no allocation per line or per file (a full scan
// reads every process's maps file; it allocated ~64 KiB per process), and
// the line that matches is still found.
func TestMappedFilesSkipsLinesWithoutAllocating(t *testing.T) {
	var text strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&text, "7f%010x-7f%010x r-xp 00000000 fd:01 %d /usr/lib/x86_64-linux-gnu/libother-%d.so\n", i<<12, (i+1)<<12, 1000+i, i)
	}
	text.WriteString("7f1c2a000000-7f1c2a021000 r-xp 00001000 fd:01 1837 /usr/lib/x86_64-linux-gnu/libcuda.so.1\n")
	maps := text.String()
	found := 0
	var r strings.Reader
	allocs := testing.AllocsPerRun(20, func() {
		r.Reset(maps)
		got, err := MappedFiles(&r, []string{"libcu"}, func(string) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		found = len(got)
	})
	if found != 1 {
		t.Fatalf("found %d mappings, want 1", found)
	}
	if allocs > 20 {
		t.Fatalf("%.0f allocations per maps file of 2,001 lines, want at most 20", allocs)
	}
}
