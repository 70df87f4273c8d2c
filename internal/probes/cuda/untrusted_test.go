package cuda

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/testutil"
)

// Library files belong to containers (docs/security.md, "Untrusted files from
// containers"). These tests play the container.

// rssLimit is issue #15's bound on the agent's resident set while a hostile
// library is mapped: the agent with every default probe holds ~46 MB
// (docs/benchmarks.md), the ELF reader adds at most maxStringTable plus a
// chunk of symbols per file whatever the file claims, and the chart's limit
// is 512 MiB. Before the bounded reader, this test's library took the probe
// to 808 MB (debug/elf read the 256 MiB table whole).
const rssLimit = 150 << 20

// A process maps a libcudart whose section headers claim a 256 MiB .dynsym in
// a 256 MiB (sparse) file. The dynamic loader, which reads program headers
// only, maps it and resolves its functions; the probe refuses it without
// reading the claimed table, stays small, and counts a normal stand-in exactly
// afterwards.
func TestHostileLibraryLeavesTheProbeSmall(t *testing.T) {
	f := start(t, time.Minute)
	hostile := buildStandins(t) // with -fcf-protection=full, like real libraries
	lib := filepath.Join(hostile, "libcudart.so")
	data, err := os.ReadFile(lib)
	if err != nil {
		t.Fatal(err)
	}
	size := hostileEdits["256 MiB .dynsym in a 256 MiB file"](t, data)
	if err := os.WriteFile(lib, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(lib, size); err != nil {
		t.Fatal(err)
	}
	normal := buildStandins(t)

	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS(t)
	before := statusBytes(t, "VmRSS")
	a := startApp(t, testutil.NewCgroup(t), hostile, "calls", "1") // "loaded": dlopen and dlsym worked
	if !mapsContain(t, a.cmd.Process.Pid, lib) {
		t.Fatalf("the loader did not map %s", lib)
	}
	id := statID(t, lib)
	testutil.Eventually(t, 10*time.Second, func() bool { return f.record(id).err != nil },
		"the hostile library was not refused: %+v", f.record(id))
	peak := statusBytes(t, "VmHWM")
	t.Logf("refused: %v", f.record(id).err)
	t.Logf("probe's process: %.1f MB resident before, peak %.1f MB while refusing", float64(before)/1e6, float64(peak)/1e6)
	if peak > rssLimit {
		t.Fatalf("peak resident set %d bytes with a hostile library mapped, want under %d", peak, rssLimit)
	}
	a.proceed(t)
	a.expect(t, "done")
	a.exit(t)

	cg := testutil.NewCgroup(t)
	b := startApp(t, cg, normal, "calls", "1")
	testutil.Eventually(t, 2*time.Second, func() bool {
		return len(f.record(statID(t, normal+"/libcudart.so")).links) > 0 && len(f.record(statID(t, normal+"/libcuda.so")).links) > 0
	}, "normal stand-ins not hooked after a hostile one")
	b.proceed(t)
	b.expect(t, "done")
	f.checkKnownCalls(t, cg, 1)
}

// statID is a file's identity as stat, and on this kernel /proc/<pid>/maps, report it.
func statID(t testing.TB, path string) fileID {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return fileID{dev: st.Dev, inode: st.Ino}
}

// record is a copy of the probe's record of a library file (zero if none).
func (f *fixture) record(id fileID) hookedLibrary {
	a := f.probe.attacher
	a.mu.Lock()
	defer a.mu.Unlock()
	if h := a.libs[id]; h != nil {
		return *h
	}
	return hookedLibrary{}
}

// resetPeakRSS starts a new peak of this process's resident set (VmHWM),
// the value 5 of clear_refs (Linux 4.0).
func resetPeakRSS(t *testing.T) {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatal(err)
	}
}

// statusBytes is a memory field of /proc/self/status (VmRSS, VmHWM), in bytes.
func statusBytes(t *testing.T, field string) uint64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

func mapsContain(t *testing.T, pid int, path string) bool {
	t.Helper()
	m, err := os.Open("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sc := bufio.NewScanner(m)
	for sc.Scan() {
		if strings.HasSuffix(sc.Text(), " "+path) {
			return true
		}
	}
	return false
}
