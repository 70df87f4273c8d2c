package exemap

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/probe/uprobe"
)

const sampleSmaps = `00400000-00412000 r--p 00000000 fe:00 100                            /usr/bin/orb8
Size:                 72 kB
Rss:                  72 kB
Anonymous:             0 kB
VmFlags: rd mr mw me sd
00412000-01483000 r-xp 00012000 fe:00 100                            /usr/bin/orb8
Rss:               16836 kB
Anonymous:             0 kB
THPeligible:    0
01483000-0274d000 r--p 01083000 fe:00 100                            /usr/bin/orb8
Anonymous:             0 kB
0274d000-0274e000 r--p 0234c000 fe:00 100                            /usr/bin/orb8
Anonymous:             4 kB
0274e000-02999000 rw-p 0234d000 fe:00 100                            /usr/bin/orb8
Anonymous:           204 kB
02999000-029a0000 r-xp 00000000 fe:00 101                            /usr/lib/other.so
Anonymous:             0 kB
7ffd5e3f0000-7ffd5e411000 rw-p 00000000 00:00 0                          [stack]
Anonymous:           132 kB
`

// TestReadOnlySpans: the executable's read-only mappings without a page of
// their own, and no other.
func TestReadOnlySpans(t *testing.T) {
	id := uprobe.FileID{Dev: unix.Mkdev(0xfe, 0), Inode: 100}
	got, err := readOnlySpans(strings.NewReader(sampleSmaps), id)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]uint64{{0x400000, 0x412000}, {0x412000, 0x1483000}, {0x1483000, 0x274d000}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want spans %x", got, want)
	}
	for i, w := range want {
		if got[i].Start != w[0] || got[i].End != w[1] {
			t.Errorf("span %d = %x-%x, want %x-%x", i, got[i].Start, got[i].End, w[0], w[1])
		}
	}
}

func FuzzReadOnlySpans(f *testing.F) {
	f.Add(sampleSmaps)
	f.Add("00400000-00412000 r--p 00000000 fe:00 100 /x\nAnonymous: 12 kB\n")
	id := uprobe.FileID{Dev: unix.Mkdev(0xfe, 0), Inode: 100}
	f.Fuzz(func(t *testing.T, smaps string) {
		spans, err := readOnlySpans(strings.NewReader(smaps), id)
		if err != nil {
			return
		}
		for _, m := range spans {
			if m.ID != id || (m.Perms != "r-xp" && m.Perms != "r--p") {
				t.Fatalf("span %+v: not a read-only mapping of %v", m, id)
			}
		}
	})
}

// TestReleaseDropsTextPages: with every page of the test binary's text
// mapped, Release leaves resident only what runs after it, and the process
// runs on.
func TestReleaseDropsTextPages(t *testing.T) {
	text := executableText(t)
	size := int(text.End-text.Start) / 1024
	populate(t, text)
	before := residentKB(t, text.Start)
	if before < size*9/10 {
		t.Fatalf("text mapping %x-%x: %d of %d kB resident after reading it all", text.Start, text.End, before, size)
	}
	released, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	after := residentKB(t, text.Start)
	t.Logf("text %d kB: %d kB resident before, %d kB after releasing %d kB", size, before, after, released/1024)
	if released < int(text.End-text.Start) {
		t.Errorf("released %d bytes, less than the text's %d", released, text.End-text.Start)
	}
	if after > before/2 {
		t.Errorf("%d kB of the text resident after Release, %d before: want at most half", after, before)
	}
	// The released code still runs: this test's own, and strconv's.
	if strconv.Itoa(released) == "" {
		t.Fatal("unreachable")
	}
}

// executableText returns the test binary's text mapping.
func executableText(t *testing.T) uprobe.Mapping {
	var exe unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &exe); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		m, ok, err := uprobe.ParseMapsLine(line)
		if err == nil && ok && m.ID == (uprobe.FileID{Dev: exe.Dev, Inode: exe.Ino}) && m.Perms == "r-xp" {
			return m
		}
	}
	t.Fatal("no text mapping of the test binary")
	return uprobe.Mapping{}
}

// populate faults every page of a mapping in, reading it through
// /proc/self/mem (which maps what it reads).
func populate(t *testing.T, m uprobe.Mapping) {
	f, err := os.Open("/proc/self/mem")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for off := m.Start; off < m.End; off += uint64(len(buf)) {
		n := min(uint64(len(buf)), m.End-off)
		if _, err := f.ReadAt(buf[:n], int64(off)); err != nil {
			t.Fatalf("read %x: %v", off, err)
		}
	}
}

// residentKB returns the Rss of the calling process's mapping that starts
// at start.
func residentKB(t *testing.T, start uint64) int {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if m, ok, err := uprobe.ParseMapsLine(line); err == nil && ok {
			in = m.Start == start
			continue
		}
		if v, found := strings.CutPrefix(line, "Rss:"); found && in {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("no mapping at %#x", start)
	return 0
}
