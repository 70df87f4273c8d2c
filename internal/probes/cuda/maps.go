package cuda

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// fileID names a file across mount namespaces: device and inode as the
// kernel reports them in /proc/<pid>/maps. An inode number alone names no
// file: each file system counts its own.
type fileID struct {
	dev   uint64 // unix.Mkdev(major, minor)
	inode uint64
}

func (id fileID) String() string {
	return fmt.Sprintf("%02x:%02x %d", unix.Major(id.dev), unix.Minor(id.dev), id.inode)
}

// parseFileID reads the device (major:minor, hex) and inode fields of a
// maps line.
func parseFileID(dev, inode string) (fileID, error) {
	major, minor, found := strings.Cut(dev, ":")
	if !found {
		return fileID{}, fmt.Errorf("device %q is not major:minor", dev)
	}
	maj, err1 := strconv.ParseUint(major, 16, 32)
	mnr, err2 := strconv.ParseUint(minor, 16, 32)
	if err := errors.Join(err1, err2); err != nil {
		return fileID{}, fmt.Errorf("device %q: %w", dev, err)
	}
	ino, err := strconv.ParseUint(inode, 10, 64)
	if err != nil {
		return fileID{}, fmt.Errorf("inode: %w", err)
	}
	return fileID{dev: unix.Mkdev(uint32(maj), uint32(mnr)), inode: ino}, nil
}

// mappedFile is a file-backed mapping of a process.
type mappedFile struct {
	id   fileID
	path string // as the process sees it (its mount namespace)
	// start and end are the mapping's addresses, offset where it starts in
	// the file.
	start, end, offset uint64
}

// parseMapsLine reads one line of /proc/<pid>/maps:
//
//	7f1c2a000000-7f1c2a021000 r-xp 00001000 fd:01 1837 /usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06
//
// ok is false for anonymous mappings and deleted files.
func parseMapsLine(line string) (m mappedFile, ok bool, err error) {
	fields := strings.Fields(line)
	if len(fields) < 5 {
		return m, false, fmt.Errorf("maps line %q: want at least 5 fields", line)
	}
	id, err := parseFileID(fields[3], fields[4])
	if err != nil {
		return m, false, fmt.Errorf("maps line %q: %w", line, err)
	}
	lo, hi, found := strings.Cut(fields[0], "-")
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	offset, err3 := strconv.ParseUint(fields[2], 16, 64)
	if err := errors.Join(err1, err2, err3); !found || err != nil {
		return m, false, fmt.Errorf("maps line %q: bad range or offset", line)
	}
	if id.inode == 0 || len(fields) < 6 || !strings.HasPrefix(fields[5], "/") {
		return m, false, nil
	}
	// The path is the rest of the line: it may contain spaces.
	path := strings.TrimSpace(line[strings.Index(line, fields[5]):])
	if strings.HasSuffix(path, " (deleted)") {
		return m, false, nil
	}
	return mappedFile{id: id, path: path, start: start, end: end, offset: offset}, true, nil
}

// libraryPrefixes are what every hooked library's file name starts with:
// libcu (libcudart, libcuda, libcublas...), libamdhip64, libnrt.
var libraryPrefixes = []string{"/libcu", "/libamdhip64", "/libnrt"}

// mentionsLibrary reports whether a maps line may name a hooked library.
func mentionsLibrary(line string) bool {
	for _, p := range libraryPrefixes {
		if strings.Contains(line, p) {
			return true
		}
	}
	return false
}

// mappedLibraries lists the distinct hooked runtime libraries in a maps file.
func mappedLibraries(r io.Reader) ([]mappedFile, error) {
	seen := map[fileID]bool{}
	var out []mappedFile
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		// Cheap filter first: a PyTorch process maps thousands of files.
		if !mentionsLibrary(line) {
			continue
		}
		m, ok, err := parseMapsLine(line)
		if err != nil {
			return nil, err
		}
		if !ok || seen[m.id] {
			continue
		}
		if _, hooked := libraryOf(m.path); hooked {
			seen[m.id] = true
			out = append(out, m)
		}
	}
	return out, sc.Err()
}
