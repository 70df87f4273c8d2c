package uprobe

import (
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
