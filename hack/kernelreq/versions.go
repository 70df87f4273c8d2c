package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// version is a kernel release, major.minor.
type version struct{ major, minor int }

func parseVersion(s string) (version, error) {
	maj, min, ok := strings.Cut(s, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if !ok || err1 != nil || err2 != nil {
		return version{}, fmt.Errorf("version %q: want major.minor", s)
	}
	return version{a, b}, nil
}

func (v version) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

func (v version) less(w version) bool {
	return v.major < w.major || v.major == w.major && v.minor < w.minor
}

// Feature kinds of versions.txt.
const (
	kindProgType = "prog_type"
	kindMapType  = "map_type"
	kindHelper   = "helper"
	kindKfunc    = "kfunc"
	kindHook     = "hook"
)

// versions says when each BPF feature first appeared, by kind and
// normalised name (see key).
type versions map[string]map[string]version

// key normalises a feature's name so that the kernel's spelling
// (BPF_PROG_TYPE_CGROUP_SKB, bpf_sk_storage_get) and cilium/ebpf's
// (CGroupSKB, FnSkStorageGet) meet: upper case, without underscores.
func key(kind, name string) string {
	if kind == kindHelper {
		name = strings.TrimPrefix(strings.TrimPrefix(name, "bpf_"), "Fn")
	}
	if kind == kindHook { // sections are spelled one way
		return name
	}
	return strings.ToUpper(strings.ReplaceAll(name, "_", ""))
}

// readVersions parses versions.txt: "kind name version source...", with
// # comments.
func readVersions(r io.Reader) (versions, error) {
	v := versions{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			return nil, fmt.Errorf("line %d: want kind, name, version and source", n)
		}
		switch f[0] {
		case kindProgType, kindMapType, kindHelper, kindKfunc, kindHook:
		default:
			return nil, fmt.Errorf("line %d: unknown kind %q", n, f[0])
		}
		ver, err := parseVersion(f[2])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if v[f[0]] == nil {
			v[f[0]] = map[string]version{}
		}
		k := key(f[0], f[1])
		if _, dup := v[f[0]][k]; dup {
			return nil, fmt.Errorf("line %d: %s %s listed twice", n, f[0], f[1])
		}
		v[f[0]][k] = ver
	}
	return v, sc.Err()
}

// first is when the feature appeared; an unknown one is an error, so that a
// new helper or hook cannot leave a cell empty.
func (v versions) first(kind, name string) (version, error) {
	ver, ok := v[kind][key(kind, name)]
	if !ok {
		return version{}, fmt.Errorf("%s %s is not in versions.txt: add the first kernel that has it, with its source", kind, name)
	}
	return ver, nil
}

// hook finds a section's row: the whole section, else ever shorter prefixes
// ending before a "/" (tp_btf/sched_switch is a tp_btf hook; iter/task_file
// is its own).
func (v versions) hook(section string) (string, version, error) {
	for s := section; ; {
		if ver, ok := v[kindHook][s]; ok {
			return s, ver, nil
		}
		i := strings.LastIndex(s, "/")
		if i < 0 {
			return "", version{}, fmt.Errorf("hook %s is not in versions.txt: add the first kernel that has it, with its source", section)
		}
		s = s[:i]
	}
}
