package http

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/probe/uprobe"
	"github.com/orb8/orb8/internal/testutil"
)

// buildGoTLS builds testdata/gotls (a net/http server and client over
// crypto/tls) into a file of its own, with go build's flags.
func buildGoTLS(t testing.TB, flags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gotls")
	args := append(append([]string{"build", "-o", bin}, flags...), "./testdata/gotls")
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("build testdata/gotls: %v: %s", err, out)
	}
	return bin
}

// startGoTLSServer runs bin's server in the server cgroup with a
// self-signed certificate and returns its port once the probe has hooked
// the executable, from its exec (the probe started first).
func (f *fixture) startGoTLSServer(t *testing.T, bin, mode string) string {
	t.Helper()
	cert, key := selfSigned(t)
	server := testutil.StartPiped(t, f.server.Command(t, bin, mode, cert, key))
	serverPort := port(t, server)
	f.waitGoHooked(t, server.Cmd.Process.Pid, bin)
	return serverPort
}

// runGoClient runs bin's client in the client cgroup against port.
func (f *fixture) runGoClient(t *testing.T, bin, port string, ok, missing int, missingMethod string) {
	t.Helper()
	cmd := f.client.Command(t, bin, "client", port, strconv.Itoa(ok), strconv.Itoa(missing), missingMethod)
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
}

// waitGoHooked waits until the executable bin that process pid runs is
// hooked.
func (f *fixture) waitGoHooked(t testing.TB, pid int, bin string) {
	t.Helper()
	h := f.probe.tls
	m, err := h.exeMapping(pid)
	if err != nil || m.Path != bin {
		t.Fatalf("process %d runs %+v, want %s (%v)", pid, m, bin, err)
	}
	stamp := h.exeStamp(pid)
	hooked := func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.exes.files[m.ID] != nil && h.exes.stamps[m.ID] == stamp
	}
	// Well under the 30 s full scan: from the exec report.
	testutil.Eventually(t, 5*time.Second, hooked, "%s of process %d not hooked", bin, pid)
}

// 37 requests answered 200 and 11 answered 404 (POSTs, whose bodies start
// like request lines, as do the 404s') between a Go net/http server and
// client over crypto/tls, one keep-alive connection, both started after the
// probe: counted exactly on both sides, durations included, each one event
// per side marked TLS, and the executable in the gauge.
func TestGoTLSKeepAlive(t *testing.T) {
	bin := buildGoTLS(t)
	f := startTLS(t)
	serverPort := f.startGoTLSServer(t, bin, "serve")
	if v, ok := testutil.Sample(t, f.reg, "orb8_http_tls_go_executables_hooked", nil); !ok || v < 1 {
		t.Errorf("orb8_http_tls_go_executables_hooked = %v (%v), want at least 1", v, ok)
	}
	sides := f.subscribeSides(t)
	f.runGoClient(t, bin, serverPort, okRequests, missingRequests, "POST")
	f.expectBothSides(t, map[[2]string]float64{{"GET", "200"}: okRequests, {"POST", "404"}: missingRequests})

	for side, sub := range sides {
		for i, e := range receive(t, sub, okRequests+missingRequests) {
			if d := e.HTTP; d.Direction != side || !d.TLS || d.Protocol != "HTTP/1.1" || d.Latency <= 0 || d.Latency > time.Second ||
				(d.Path != "/ok" && d.Path != "/missing") {
				t.Errorf("%s event %d = %+v, want a TLS HTTP/1.1 request to /ok or /missing with a latency", side, i, d)
			}
		}
	}
}

// A stripped executable (no .symtab; found through Go's own function
// table, .gopclntab) is hooked the same way: 5 requests answered 200 and 2
// answered 404 counted on both sides.
func TestGoTLSStripped(t *testing.T) {
	bin := buildGoTLS(t, "-ldflags=-s -w")
	if out, err := exec.Command("readelf", "-S", bin).Output(); err == nil && strings.Contains(string(out), ".symtab") {
		t.Fatalf("%s has a .symtab", bin)
	}
	f := startTLS(t)
	serverPort := f.startGoTLSServer(t, bin, "serve")
	f.runGoClient(t, bin, serverPort, 5, 2, "GET")
	f.expectBothSides(t, map[[2]string]float64{{"GET", "200"}: 5, {"GET", "404"}: 2})
}

// The agent's own executable (this test binary, a Go program with
// crypto/tls) is not hooked, even when another process runs it: here a
// helper started after the probe.
func TestGoTLSOwnExecutableNotHooked(t *testing.T) {
	f := startTLS(t)
	h := f.probe.tls
	if h.selfExe == (uprobe.FileID{}) {
		t.Fatal("own executable not found")
	}
	server := testutil.StartPiped(t, f.helper(t, f.server, "serve"))
	port(t, server)
	h.scanPID(server.Cmd.Process.Pid)
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.exes.files[h.selfExe]; ok {
		t.Errorf("own executable %v hooked", h.selfExe)
	}
}

// A request whose first byte the server reads alone (net/http's server may,
// in the background read it keeps while a handler runs), the rest in the
// next Read: the first byte is a head's start, the rest its continuation,
// not a request of method "ET" or "OST". 7 GETs and 3 POSTs, exact.
func TestGoTLSFirstByteReadAlone(t *testing.T) {
	bin := buildGoTLS(t)
	f := startTLS(t)
	serverPort := f.startGoTLSServer(t, bin, "serve-first-byte")
	f.runGoClient(t, bin, serverPort, 7, 3, "POST")
	f.expectBothSides(t, map[[2]string]float64{{"GET", "200"}: 7, {"POST", "404"}: 3})
}

// TestGoTLSRewrittenInPlace: an executable is unhooked within a prune
// period once its processes ended, so that rewritten in place (same inode)
// with a build whose code lies elsewhere, it runs unharmed and is hooked
// from its new contents (the kernel's probes keep the instructions of the
// file as first hooked: left in place, they crash the new program). Both
// runs are counted exactly.
func TestGoTLSRewrittenInPlace(t *testing.T) {
	optimized, unoptimized := buildGoTLS(t), buildGoTLS(t, "-gcflags=all=-N -l")
	bin := filepath.Join(t.TempDir(), "gotls")
	f := startTLS(t)
	cert, key := selfSigned(t)
	for round, build := range []string{optimized, unoptimized} {
		data, err := os.ReadFile(build)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, data, 0o755); err != nil { // the second time in place: O_TRUNC keeps the inode
			t.Fatal(err)
		}
		server := testutil.StartPiped(t, f.server.Command(t, bin, "serve", cert, key))
		serverPort := port(t, server)
		f.waitGoHooked(t, server.Cmd.Process.Pid, bin)
		f.runGoClient(t, bin, serverPort, 5, 2, "GET")
		n := float64(round + 1)
		f.expectBothSides(t, map[[2]string]float64{{"GET", "200"}: 5 * n, {"GET", "404"}: 2 * n})
		server.Cmd.Process.Kill()
		server.Cmd.Wait()
		var st unix.Stat_t
		if err := unix.Stat(bin, &st); err != nil {
			t.Fatal(err)
		}
		id := uprobe.FileID{Dev: uint64(st.Dev), Inode: st.Ino}
		unhooked := func() bool {
			f.probe.tls.mu.Lock()
			defer f.probe.tls.mu.Unlock()
			_, ok := f.probe.tls.exes.files[id]
			return !ok
		}
		testutil.Eventually(t, 3*exePruneEvery, unhooked, "%s still hooked after its processes ended", bin)
	}
}
