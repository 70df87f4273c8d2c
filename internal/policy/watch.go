package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// pollInterval is how often WatchDir looks at the directory. It polls names,
// sizes, mtimes and inodes rather than using inotify: a poll sees a change
// made through a symlink (Kubernetes ConfigMap volumes swap a ..data link),
// works on every filesystem, and costs one readdir and a stat per file.
const pollInterval = time.Second

// maxFileSize bounds what WatchDir reads from one policy file.
const maxFileSize = 1 << 20

// fileStamp is what WatchDir compares between polls to notice a change.
type fileStamp struct {
	size, mtime int64
	ino, dev    uint64
	mode        os.FileMode
	err         string // stat failed (a dangling symlink)
}

// dirState is one poll of the directory: its policy files, or why it could
// not be read.
type dirState struct {
	files map[string]fileStamp
	err   string
}

func (a dirState) equal(b dirState) bool {
	return a.err == b.err && maps.Equal(a.files, b.files)
}

// WatchDir loads every *.yaml and *.yml file in dir (names starting with "."
// are skipped: editor lock and swap files) now, and again within a second of
// any file being created, changed, renamed or removed. Each time it calls
// onChange with the policies of all good files, in file name order, and the
// error of each bad file by path: a bad file is skipped, the others stay in
// force. A policy whose kind, namespace and name an earlier file already
// defined makes its file bad. If dir cannot be read after the start, onChange
// gets no policies and the error under dir.
//
// onChange runs on the caller's goroutine. WatchDir returns nil when ctx
// ends, or an error if dir cannot be read at the start.
func WatchDir(ctx context.Context, dir string, onChange func(policies []Policy, errs map[string]error)) error {
	state := scanDir(dir)
	if state.err != "" {
		return fmt.Errorf("policy directory: %s", state.err)
	}
	onChange(loadDir(dir, state))
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		next := scanDir(dir)
		if next.equal(state) {
			continue
		}
		state = next
		onChange(loadDir(dir, state))
	}
}

func isPolicyFile(name string) bool {
	return !strings.HasPrefix(name, ".") && (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml"))
}

func scanDir(dir string) dirState {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return dirState{err: err.Error()}
	}
	files := map[string]fileStamp{}
	for _, e := range entries {
		if !isPolicyFile(e.Name()) {
			continue
		}
		info, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			files[e.Name()] = fileStamp{err: err.Error()}
			continue
		}
		stamp := fileStamp{size: info.Size(), mtime: info.ModTime().UnixNano(), mode: info.Mode()}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			stamp.ino, stamp.dev = st.Ino, st.Dev
		}
		files[e.Name()] = stamp
	}
	return dirState{files: files}
}

func loadDir(dir string, state dirState) ([]Policy, map[string]error) {
	errs := map[string]error{}
	if state.err != "" {
		errs[dir] = errors.New(state.err)
		return nil, errs
	}
	var policies []Policy
	definedIn := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(state.files)) {
		path := filepath.Join(dir, name)
		parsed, err := loadFile(path, state.files[name])
		if err == nil {
			err = duplicateError(parsed, definedIn)
		}
		if err != nil {
			errs[path] = err
			continue
		}
		for _, p := range parsed {
			definedIn[p.key()] = path
		}
		policies = append(policies, parsed...)
	}
	return policies, errs
}

func loadFile(path string, stamp fileStamp) ([]Policy, error) {
	switch {
	case stamp.err != "":
		return nil, errors.New(stamp.err)
	case !stamp.mode.IsRegular():
		return nil, errors.New("not a regular file")
	case stamp.size > maxFileSize:
		return nil, fmt.Errorf("%d bytes, at most %d allowed", stamp.size, maxFileSize)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The file may have grown since the stat: the next poll rereads it.
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize))
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

func duplicateError(policies []Policy, definedIn map[string]string) error {
	for _, p := range policies {
		if earlier, ok := definedIn[p.key()]; ok {
			return fmt.Errorf("%s is already defined in %s", p.key(), earlier)
		}
	}
	return nil
}
