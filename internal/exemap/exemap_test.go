package exemap

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/probe/uprobe"
	"github.com/orb8/orb8/internal/testutil"
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
02999000-029a0000 r--p 02598000 fe:00 100                            /usr/bin/orb8
Rss:                   4 kB
02a00000-02a10000 r-xp 00000000 fe:00 101                            /usr/lib/my libs/other:1.so
Anonymous:             0 kB
02b00000-02b10000 r-xp 00000000 fe:00 102                            /usr/lib/old.so (deleted)
Anonymous:             0 kB
7ffd5e3f0000-7ffd5e411000 rw-p 00000000 00:00 0                          [stack]
Anonymous:           132 kB
`

// TestReadOnlySpans: the read-only mappings, without a page of their own,
// of the file whose code holds the address, and no other.
func TestReadOnlySpans(t *testing.T) {
	for _, tc := range []struct {
		pc   uint64
		want [][2]uint64
	}{
		// The executable: its relro (a private page), data and the mapping
		// without an Anonymous line are left.
		{0x412345, [][2]uint64{{0x400000, 0x412000}, {0x412000, 0x1483000}, {0x1483000, 0x274d000}}},
		{0x2a00010, [][2]uint64{{0x2a00000, 0x2a10000}}}, // a path with a space and a colon
		{0x2b00010, nil},      // a deleted file
		{0x7ffd5e3f0010, nil}, // no file
		{0x10, nil},           // nothing mapped
	} {
		got, err := readOnlySpans(strings.NewReader(sampleSmaps), tc.pc)
		if err != nil {
			t.Fatal(err)
		}
		var spans [][2]uint64
		for _, m := range got {
			spans = append(spans, [2]uint64{m.Start, m.End})
		}
		if fmt.Sprint(spans) != fmt.Sprint(tc.want) {
			t.Errorf("pc %#x: spans %x, want %x", tc.pc, spans, tc.want)
		}
	}
}

func FuzzReadOnlySpans(f *testing.F) {
	f.Add(sampleSmaps, uint64(0x412345))
	f.Add("00400000-00412000 r--p 00000000 fe:00 100 /x\nAnonymous: 12 kB\n", uint64(0x400000))
	f.Add("00400000-00412000 r--p 00000000 fe:00 100 /x\nAnonymous:\n", uint64(0x400000))
	f.Fuzz(func(t *testing.T, smaps string, pc uint64) {
		spans, err := readOnlySpans(strings.NewReader(smaps), pc)
		if err != nil {
			return
		}
		for _, m := range spans {
			if m.Perms != "r-xp" && m.Perms != "r--p" {
				t.Fatalf("span %+v: not a read-only mapping", m)
			}
			if !mapped(smaps, m) {
				t.Fatalf("span %+v: no such mapping in the input", m)
			}
		}
	})
}

// mapped reports whether a line of smaps is the mapping m.
func mapped(smaps string, m uprobe.Mapping) bool {
	for _, line := range strings.Split(smaps, "\n") {
		if p, ok, err := uprobe.ParseMapsLine(line); err == nil && ok && p == m {
			return true
		}
	}
	return false
}

// TestReleaseSplitsTextFolios: in a copy of the test binary read back from
// disk, as a deployed binary is (its page cache in large folios, which the
// kernel maps whole), Release leaves resident only what runs after it, and
// what runs after it comes back a page at a time: the large folios were
// split (paged out, not only unmapped, which would map them whole again).
func TestReleaseSplitsTextFolios(t *testing.T) {
	testutil.RequireRoot(t) // page frames and their flags
	copyBin := filepath.Join(t.TempDir(), "exemap.test")
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	writeClean(t, copyBin, self)
	child := exec.Command(copyBin, "-test.run", "^TestReleaseInChild$", "-test.v")
	child.Env = append(os.Environ(), childEnv+"=1")
	out, err := child.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var size, before, after, released, largeBefore, largeAfter int
	line := regexp.MustCompile(`release: .*`).Find(out)
	if _, err := fmt.Sscanf(string(line), "release: text %d kB, resident %d kB before, %d kB after, released %d kB, pages in large folios %d before, %d after",
		&size, &before, &after, &released, &largeBefore, &largeAfter); err != nil {
		t.Fatalf("child said %q: %v\n%s", line, err, out)
	}
	t.Logf("%s", line)
	if before < size*9/10 {
		t.Fatalf("%d of the text's %d kB resident after reading it all", before, size)
	}
	if largeBefore == 0 {
		t.Skip("the binary read back from disk holds no large folio: nothing for Release to split")
	}
	if released < size {
		t.Errorf("released %d kB, less than the text's %d", released, size)
	}
	if after > before/2 {
		t.Errorf("%d kB of the text resident after Release, %d before: want at most half", after, before)
	}
	if largeAfter > largeBefore/10 {
		t.Errorf("%d of the text's pages in large folios after Release, %d before: want at most a tenth", largeAfter, largeBefore)
	}
}

// childEnv marks the process TestReleaseSplitsTextFolios starts.
const childEnv = "ORB8_EXEMAP_CHILD"

// TestReleaseInChild is TestReleaseSplitsTextFolios's child: it reports
// what Release did to its text.
func TestReleaseInChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("run by TestReleaseSplitsTextFolios")
	}
	text := executableText(t)
	populate(t, text)
	before, largeBefore := residentKB(t, text.Start), largeFolioPages(t, text)
	released, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	after := residentKB(t, text.Start)
	populate(t, text)
	fmt.Printf("release: text %d kB, resident %d kB before, %d kB after, released %d kB, pages in large folios %d before, %d after\n",
		(text.End-text.Start)/1024, before, after, released/1024, largeBefore, largeFolioPages(t, text))
}

// writeClean writes a file, flushes it and drops it from the page cache,
// so that what maps it reads it back from disk.
func writeClean(t *testing.T, path string, data []byte) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}

// executableText returns the test binary's text mapping: the one that
// holds this function.
func executableText(t *testing.T) uprobe.Mapping {
	m, ok := mappingAt(selfSmaps(t), uint64(reflect.ValueOf(executableText).Pointer()))
	if !ok {
		t.Fatal("no text mapping of the test binary")
	}
	return m.Mapping
}

func selfSmaps(t *testing.T) []smapsRecord {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := readSmaps(f)
	if err != nil {
		t.Fatal(err)
	}
	return records
}

// largeFolioPages returns how many of a mapping's resident pages belong to
// a large folio, from the page frames in /proc/self/pagemap and their
// flags in /proc/kpageflags (root only).
func largeFolioPages(t *testing.T, m uprobe.Mapping) int {
	pagemap, err := os.Open("/proc/self/pagemap")
	if err != nil {
		t.Fatal(err)
	}
	defer pagemap.Close()
	flags, err := os.Open("/proc/kpageflags")
	if err != nil {
		t.Skipf("page flags unreadable: %v", err)
	}
	defer flags.Close()
	const (
		present      = 1 << 63
		pfnMask      = 1<<55 - 1
		compoundHead = 1 << 15
		compoundTail = 1 << 16
	)
	page := uint64(os.Getpagesize())
	entries := make([]byte, 8*(m.End-m.Start)/page)
	if _, err := pagemap.ReadAt(entries, int64(m.Start/page*8)); err != nil {
		t.Fatal(err)
	}
	n := 0
	word := make([]byte, 8)
	for i := 0; i < len(entries); i += 8 {
		e := binary.LittleEndian.Uint64(entries[i:])
		if e&present == 0 || e&pfnMask == 0 {
			continue
		}
		if _, err := flags.ReadAt(word, int64(e&pfnMask*8)); err != nil {
			t.Fatal(err)
		}
		if binary.LittleEndian.Uint64(word)&(compoundHead|compoundTail) != 0 {
			n++
		}
	}
	return n
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

// residentKB returns the Rss of the calling process's mapping that holds
// addr.
func residentKB(t *testing.T, addr uint64) int {
	m, ok := mappingAt(selfSmaps(t), addr)
	if !ok {
		t.Fatalf("no mapping at %#x", addr)
	}
	return m.kB["Rss"]
}
