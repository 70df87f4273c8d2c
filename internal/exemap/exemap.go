// Package exemap gives back the pages of a process's executable that it
// touched while starting and does not use since.
//
// Start-up (package inits, parsing the embedded BPF objects) touches much of
// the agent's binary once, and this kernel keeps an executable's page cache
// in large folios (read back from disk for an exec mapping, up to 2 MiB) and
// maps a whole folio, by PTEs or by a PMD, on the first touch of any of its
// pages: an idle agent kept 30-36 MB of its text and read-only data
// resident, of which it uses ~16 MB afterwards. Dropping only the page table
// entries does not help: the next touch maps the whole folio again. Release
// pages the mappings out instead: the kernel unmaps them, splits their large
// folios and reclaims what it can (a clean page no other process maps, if
// this process may write the file or holds CAP_FOWNER), and the mappings are
// marked not to be mapped by PMDs from then on. What runs afterwards is
// mapped back a few pages at a time.
package exemap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/probe/uprobe"
)

// ErrUnsupported: the kernel cannot page mappings out (MADV_PAGEOUT, Linux
// 5.4), or a sandbox refuses it.
var ErrUnsupported = errors.New("paging out is not supported here")

// Release pages out the read-only mappings of the calling process's
// executable (the file its code runs from) that hold no page of their own
// (a private copy, written once), and returns how many bytes they span.
func Release() (int, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// Found by an address of its code, not by the executable's stat: on
	// overlayfs, kernels before 6.8 show the lower file in maps.
	spans, err := readOnlySpans(f, uint64(reflect.ValueOf(Release).Pointer()))
	if err != nil {
		return 0, err
	}
	released := 0
	var errs []error
	for _, m := range spans {
		size := uintptr(m.End - m.Start)
		// EINVAL: a kernel without transparent huge pages maps none.
		if err := madvise(uintptr(m.Start), size, unix.MADV_NOHUGEPAGE); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, err)
		}
		err := madvise(uintptr(m.Start), size, unix.MADV_PAGEOUT)
		switch {
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EPERM), errors.Is(err, unix.ENOSYS):
			return released, fmt.Errorf("%w: %v", ErrUnsupported, err)
		case err != nil:
			errs = append(errs, err)
		default:
			released += int(size)
		}
	}
	return released, errors.Join(errs...)
}

func madvise(addr, size uintptr, advice int) error {
	// Through the raw call: the address is the kernel's, not a Go pointer.
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, addr, size, uintptr(advice)); errno != 0 {
		return fmt.Errorf("madvise(%#x, %d, %d): %w", addr, size, advice, errno)
	}
	return nil
}

// smapsRecord is a file mapping of an smaps file, with its attributes
// counted in kB (Rss, Anonymous...).
type smapsRecord struct {
	uprobe.Mapping
	kB map[string]int
}

// readSmaps reads the file mappings of an smaps file.
func readSmaps(r io.Reader) ([]smapsRecord, error) {
	var records []smapsRecord
	cur := -1 // index in records of the mapping whose attributes follow
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if key, value, ok := strings.Cut(line, ":"); ok && !strings.ContainsAny(key, " -") {
			if f := strings.Fields(value); cur >= 0 && len(f) == 2 && f[1] == "kB" {
				if n, err := strconv.Atoi(f[0]); err == nil {
					records[cur].kB[key] = n
				}
			}
			continue
		}
		m, ok, err := uprobe.ParseMapsLine(line)
		if err != nil {
			return nil, err
		}
		cur = -1
		if ok {
			records = append(records, smapsRecord{Mapping: m, kB: map[string]int{}})
			cur = len(records) - 1
		}
	}
	return records, sc.Err()
}

// mappingAt returns the record of the mapping that holds addr.
func mappingAt(records []smapsRecord, addr uint64) (smapsRecord, bool) {
	for _, r := range records {
		if addr >= r.Start && addr < r.End {
			return r, true
		}
	}
	return smapsRecord{}, false
}

// readOnlySpans reads an smaps file and returns the read-only private
// mappings of the file mapped at pc that hold no anonymous page.
func readOnlySpans(r io.Reader, pc uint64) ([]uprobe.Mapping, error) {
	records, err := readSmaps(r)
	if err != nil {
		return nil, err
	}
	code, ok := mappingAt(records, pc)
	if !ok {
		return nil, nil
	}
	var out []uprobe.Mapping
	for _, m := range records {
		if anon, seen := m.kB["Anonymous"]; m.ID == code.ID && seen && anon == 0 && (m.Perms == "r-xp" || m.Perms == "r--p") {
			out = append(out, m.Mapping)
		}
	}
	return out, nil
}
