package uprobe

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// FileID names a file across mount namespaces: device and inode as the
// kernel reports them in /proc/<pid>/maps. An inode number alone names no
// file: each file system counts its own.
type FileID struct {
	Dev   uint64 // unix.Mkdev(major, minor)
	Inode uint64
}

func (id FileID) String() string {
	return fmt.Sprintf("%02x:%02x %d", unix.Major(id.Dev), unix.Minor(id.Dev), id.Inode)
}

// parseFileID reads the device (major:minor, hex) and inode fields of a
// maps line.
func parseFileID(dev, inode string) (FileID, error) {
	major, minor, found := strings.Cut(dev, ":")
	if !found {
		return FileID{}, fmt.Errorf("device %q is not major:minor", dev)
	}
	maj, err1 := strconv.ParseUint(major, 16, 32)
	mnr, err2 := strconv.ParseUint(minor, 16, 32)
	if err := errors.Join(err1, err2); err != nil {
		return FileID{}, fmt.Errorf("device %q: %w", dev, err)
	}
	ino, err := strconv.ParseUint(inode, 10, 64)
	if err != nil {
		return FileID{}, fmt.Errorf("inode: %w", err)
	}
	return FileID{Dev: unix.Mkdev(uint32(maj), uint32(mnr)), Inode: ino}, nil
}

// Mapping is a file-backed mapping of a process.
type Mapping struct {
	ID   FileID
	Path string // as the process sees it (its mount namespace)
	// Start and End are the mapping's addresses, Offset where it starts in
	// the file.
	Start, End, Offset uint64
	Perms              string // as in maps: r-xp
}

// ParseMapsLine reads one line of /proc/<pid>/maps:
//
//	7f1c2a000000-7f1c2a021000 r-xp 00001000 fd:01 1837 /usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06
//
// ok is false for anonymous mappings and deleted files.
func ParseMapsLine(line string) (m Mapping, ok bool, err error) {
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
	if id.Inode == 0 || len(fields) < 6 || !strings.HasPrefix(fields[5], "/") {
		return m, false, nil
	}
	// The path is the rest of the line: it may contain spaces.
	path := strings.TrimSpace(line[strings.Index(line, fields[5]):])
	if strings.HasSuffix(path, " (deleted)") {
		return m, false, nil
	}
	return Mapping{ID: id, Path: path, Start: start, End: end, Offset: offset, Perms: fields[1]}, true, nil
}

// MappedFiles lists the distinct files in a maps file whose path contains
// one of prefixes (a cheap filter first: a PyTorch process maps thousands of
// files) and that match accepts. Lines are filtered as read, in a pooled
// buffer: a scan of every process of a node reads thousands of maps files,
// mostly of lines it skips.
func MappedFiles(r io.Reader, prefixes []string, match func(path string) bool) ([]Mapping, error) {
	buf := scanBuffers.Get().(*[]byte)
	defer scanBuffers.Put(buf)
	seen := map[FileID]bool{}
	var out []Mapping
	sc := bufio.NewScanner(r)
	sc.Buffer((*buf)[:0], 1<<20)
	for sc.Scan() {
		if !mentions(sc.Bytes(), prefixes) {
			continue
		}
		m, ok, err := ParseMapsLine(sc.Text())
		if err != nil {
			return nil, err
		}
		if !ok || seen[m.ID] {
			continue
		}
		if match(m.Path) {
			seen[m.ID] = true
			out = append(out, m)
		}
	}
	return out, sc.Err()
}

// scanBuffers are MappedFiles' read buffers (a maps line is read whole).
var scanBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 64<<10)
	return &b
}}

func mentions(line []byte, prefixes []string) bool {
	for _, p := range prefixes {
		if bytes.Contains(line, []byte(p)) {
			return true
		}
	}
	return false
}
