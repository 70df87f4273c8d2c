package cgroup

import (
	"io"
	"strings"
	"testing"
)

func TestFindMount(t *testing.T) {
	const hybrid = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 25 0:24 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
27 26 0:25 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
28 26 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,memory
`
	const pure = `30 25 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	const odd = `40 25 0:30 / /run/my\040cgroups rw - cgroup2 none rw
`
	const optionalFields = `41 25 0:31 / /sys/fs/cgroup rw shared:4 master:1 propagate_from:2 - cgroup2 cgroup2 rw
`
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"hybrid", hybrid, "/sys/fs/cgroup/unified", false},
		{"pure v2", pure, "/sys/fs/cgroup", false},
		{"both prefers /sys/fs/cgroup", hybrid + pure, "/sys/fs/cgroup", false},
		{"elsewhere, escaped space", odd, "/run/my cgroups", false},
		{"several optional fields", optionalFields, "/sys/fs/cgroup", false},
		{"none", "1 2 0:1 / / rw - ext4 /dev/vda rw\n", "", true},
		{"garbage", "- - -\n\n x\n", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findMount(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("findMount = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestFindV1Mount(t *testing.T) {
	const mountinfo = `25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
36 32 0:31 / /sys/fs/cgroup/cpu rw,nosuid shared:14 - cgroup cgroup rw,cpu
38 32 0:33 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
`
	got, err := findV1Mount(strings.NewReader(mountinfo), "memory")
	if err != nil || got != "/sys/fs/cgroup/memory" {
		t.Fatalf("findV1Mount = %q, %v; want /sys/fs/cgroup/memory", got, err)
	}
	if _, err := findV1Mount(strings.NewReader(mountinfo[:strings.Index(mountinfo, "38 32")]), "memory"); err == nil {
		t.Fatal("no error without a memory mount")
	}
}

func TestFindHierarchy(t *testing.T) {
	const hybrid = `27 26 0:25 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
28 26 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,memory
`
	const legacy = `28 26 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,memory
29 26 0:27 / /sys/fs/cgroup/cpu,cpuacct rw shared:11 - cgroup cgroup rw,cpu,cpuacct
`
	const pure = `30 25 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
`
	unified := Hierarchy{Root: "/sys/fs/cgroup/unified", Unified: "/sys/fs/cgroup/unified"}
	tests := []struct {
		name, mountinfo, mode string
		want                  Hierarchy
		wantErr               bool
	}{
		{"auto on hybrid takes the unified mount", hybrid, "auto", unified, false},
		{"empty mode is auto", hybrid, "", unified, false},
		{"auto on pure v2", pure, "auto", Hierarchy{Root: "/sys/fs/cgroup", Unified: "/sys/fs/cgroup"}, false},
		{"auto on legacy takes memory", legacy, "auto", Hierarchy{V1: true, Root: "/sys/fs/cgroup/memory"}, false},
		{"v1 on hybrid keeps the unified mount for cgroup programs", hybrid, "v1",
			Hierarchy{V1: true, Root: "/sys/fs/cgroup/memory", Unified: "/sys/fs/cgroup/unified"}, false},
		{"unified on legacy", legacy, "unified", Hierarchy{}, true},
		{"v1 on pure v2", pure, "v1", Hierarchy{}, true},
		{"unknown mode", hybrid, "v3", Hierarchy{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findHierarchy(tt.mountinfo, tt.mode)
			if (err != nil) != tt.wantErr || (err == nil && got != tt.want) {
				t.Fatalf("findHierarchy = %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if (Hierarchy{V1: true}).Name() != "v1-memory" || unified.Name() != "unified" {
		t.Error("hierarchy names changed: they are part of orb8_build_info and orb8 status")
	}
}

// FuzzMountinfo feeds arbitrary mountinfo to the parsers: they must never
// panic, nor find an empty mount point.
func FuzzMountinfo(f *testing.F) {
	for _, s := range []string{"38 32 0:33 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
		"40 25 0:30 / /run/my\\040cgroups rw - cgroup2 none rw\n", "- cgroup", "- - -\n\n x\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, find := range []func(io.Reader) (string, error){findMount, func(r io.Reader) (string, error) { return findV1Mount(r, "memory") }} {
			if got, err := find(strings.NewReader(s)); err == nil && got == "" {
				t.Fatalf("found an empty mount point in %q", s)
			}
		}
	})
}
