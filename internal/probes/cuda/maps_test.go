package cuda

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/probe/uprobe"
)

func TestMappedLibraries(t *testing.T) {
	maps := `55d0c0a00000-55d0c0a01000 r--p 00000000 fd:01 100 /usr/bin/python3.11
7f00aa000000-7f00aa100000 r--p 00000000 fd:01 1837 /usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06
7f00aa100000-7f00aa900000 r-xp 00100000 fd:01 1837 /usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06
7f00ab000000-7f00ab010000 r-xp 00000000 00:2a 77 /opt/venv/lib/python3.11/site-packages/nvidia/cuda_runtime/lib/libcudart.so.13
7f00ac000000-7f00ac010000 r-xp 00000000 00:2a 78 /opt/my libs/libcudart_static_helper.so
7f00ad000000-7f00ad010000 r-xp 00000000 00:2a 79 /usr/lib/libcudart.so.12 (deleted)
7f00ae000000-7f00ae010000 r-xp 00000000 00:2a 80 /usr/lib/libcublas.so.13
7f00ae100000-7f00ae110000 r-xp 00000000 00:2a 81 /usr/lib/libcufft.so.12
7f00ae200000-7f00ae210000 r-xp 00000000 00:2a 82 /opt/rocm/lib/libamdhip64.so.6
7f00ae300000-7f00ae310000 r-xp 00000000 00:2a 83 /opt/aws/neuron/lib/libnrt.so.1
7f00af000000-7f00af010000 rw-p 00000000 00:00 0 
7ffd5e3f0000-7ffd5e411000 rw-p 00000000 00:00 0                          [stack]
`
	got, err := mappedLibraries(strings.NewReader(maps))
	if err != nil {
		t.Fatal(err)
	}
	want := []uprobe.Mapping{
		{ID: uprobe.FileID{Dev: unix.Mkdev(0xfd, 1), Inode: 1837}, Path: "/usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06",
			Start: 0x7f00aa000000, End: 0x7f00aa100000, Perms: "r--p"},
		{ID: uprobe.FileID{Dev: unix.Mkdev(0, 0x2a), Inode: 77}, Path: "/opt/venv/lib/python3.11/site-packages/nvidia/cuda_runtime/lib/libcudart.so.13",
			Start: 0x7f00ab000000, End: 0x7f00ab010000, Perms: "r-xp"},
		{ID: uprobe.FileID{Dev: unix.Mkdev(0, 0x2a), Inode: 80}, Path: "/usr/lib/libcublas.so.13", Start: 0x7f00ae000000, End: 0x7f00ae010000, Perms: "r-xp"},
		{ID: uprobe.FileID{Dev: unix.Mkdev(0, 0x2a), Inode: 82}, Path: "/opt/rocm/lib/libamdhip64.so.6", Start: 0x7f00ae200000, End: 0x7f00ae210000, Perms: "r-xp"},
		{ID: uprobe.FileID{Dev: unix.Mkdev(0, 0x2a), Inode: 83}, Path: "/opt/aws/neuron/lib/libnrt.so.1", Start: 0x7f00ae300000, End: 0x7f00ae310000, Perms: "r-xp"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("library %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestLibraryOf(t *testing.T) {
	for path, want := range map[string]string{
		"/usr/lib/libcuda.so":                     "cuda",
		"/usr/lib/libcuda.so.1":                   "cuda",
		"/usr/lib/libcudart.so.13.0.96":           "cudart",
		"/usr/lib/libcudart.so":                   "cudart",
		"/usr/lib/libcudadebugger.so.1":           "",
		"/usr/lib/libcudart_static.a":             "",
		"/usr/lib/libcuda.so.1/not-a-library.txt": "",
		"/opt/rocm/lib/libamdhip64.so.6.4.60400":  "amdhip64",
		"/opt/rocm/lib/libamdhip64.so":            "amdhip64",
		"/opt/rocm/lib/libamdhip64_static.a":      "",
		"/opt/aws/neuron/lib/libnrt.so.1":         "nrt",
		"/opt/aws/neuron/lib/libnrtucode.so":      "",
	} {
		got := ""
		if lib, ok := libraryOf(path); ok {
			got = lib.name
		}
		if got != want {
			t.Errorf("libraryOf(%q) = %q, want %q", path, got, want)
		}
	}
}
