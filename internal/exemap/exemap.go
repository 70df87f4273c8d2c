// Package exemap gives back the pages of a process's executable that it
// touched while starting and does not use since.
//
// Start-up (package inits, parsing the embedded BPF objects) touches much of
// the agent's binary once, and this kernel keeps an executable's page cache
// in large folios (up to 2 MiB) and maps a whole folio, by PTEs or by a PMD,
// on the first touch of any of its pages: an idle agent kept 30-36 MB of its
// text and read-only data resident, of which it uses ~16 MB afterwards.
// Dropping only the page table entries does not help: the next touch maps
// the whole folio again. Release pages the mappings out instead (where no
// other process maps them, they leave memory, and the agent's cgroup is no
// longer charged for them), and marks them not to be mapped by PMDs; what
// runs afterwards is read back in, in smaller folios.
package exemap

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/probe/uprobe"
)

// Release pages out the calling process's read-only mappings of its
// executable, and returns how many bytes they spanned. A mapping with a
// page of its own (a private copy, written once) is left as it is.
func Release() (int, error) {
	var exe unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &exe); err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	spans, err := readOnlySpans(f, uprobe.FileID{Dev: exe.Dev, Inode: exe.Ino})
	if err != nil {
		return 0, err
	}
	released := 0
	for _, m := range spans {
		size := uintptr(m.End - m.Start)
		if err := madvise(uintptr(m.Start), size, unix.MADV_NOHUGEPAGE); err != nil {
			return released, err
		}
		if err := madvise(uintptr(m.Start), size, unix.MADV_PAGEOUT); err != nil {
			return released, err
		}
		released += int(size)
	}
	return released, nil
}

func madvise(addr, size uintptr, advice int) error {
	// Through the raw call: the address is the kernel's, not a Go pointer.
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, addr, size, uintptr(advice)); errno != 0 {
		return fmt.Errorf("madvise(%#x, %d, %d): %w", addr, size, advice, errno)
	}
	return nil
}

// readOnlySpans reads an smaps file and returns the read-only private
// mappings of the file id that hold no anonymous page.
func readOnlySpans(r io.Reader, id uprobe.FileID) ([]uprobe.Mapping, error) {
	var out []uprobe.Mapping
	var cur uprobe.Mapping
	keep := false
	flush := func() {
		if keep {
			out = append(out, cur)
		}
		keep = false
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		key, value, attribute := strings.Cut(line, ":")
		if attribute && !strings.Contains(key, " ") && !strings.Contains(key, "-") {
			if key == "Anonymous" && strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")) != "0" {
				keep = false
			}
			continue
		}
		flush()
		m, ok, err := uprobe.ParseMapsLine(line)
		if err != nil {
			return nil, err
		}
		cur, keep = m, ok && m.ID == id && (m.Perms == "r-xp" || m.Perms == "r--p")
	}
	flush()
	return out, sc.Err()
}
