package http

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe/uprobe"
	"github.com/orb8/orb8/internal/probes/http/internal/keepalive"
	"github.com/orb8/orb8/internal/testutil"
)

// startTLSServer runs Python's http.server wrapped in ssl (libssl) in the
// server cgroup with a self-signed certificate made here, and returns its
// port once the probe has hooked the libssl it loaded (late, at import ssl).
func (f *fixture) startTLSServer(t *testing.T, env ...string) (string, *testutil.Piped) {
	t.Helper()
	cert, key := selfSigned(t)
	cmd := f.server.Command(t, mustLookPath(t, "python3"), "testdata/server.py", cert, key)
	cmd.Env = append(cmd.Environ(), env...)
	server := testutil.StartPiped(t, cmd)
	serverPort := port(t, server)
	f.waitHooked(t, server.Cmd.Process.Pid)
	return serverPort, server
}

// waitHooked waits until the libssl files a process maps are hooked (not
// merely some libssl file: another process of the machine may map one).
func (f *fixture) waitHooked(t testing.TB, pid int) {
	t.Helper()
	maps, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	mapped, err := uprobe.MappedFiles(maps, []string{"/libssl.so"}, isLibSSL)
	if err != nil || len(mapped) == 0 {
		t.Fatalf("process %d maps no libssl (%v)", pid, err)
	}
	h := f.probe.tls
	for _, m := range mapped {
		hooked := func() bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.libs.files[m.ID] != nil
		}
		testutil.Eventually(t, 5*time.Second, hooked, "%s of process %d not hooked", m.Path, pid)
	}
}

// selfSigned makes a certificate for 127.0.0.1 and its key, in files.
func selfSigned(t testing.TB) (cert, key string) {
	t.Helper()
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	out, err := exec.Command(mustLookPath(t, "openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
		"-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert).CombinedOutput()
	if err != nil {
		t.Fatalf("make a certificate: %v: %s", err, out)
	}
	return cert, key
}

// A libssl file that no process mapped when the probe started, loaded by
// a server started later (a copy, through LD_LIBRARY_PATH: a file of its
// own), is hooked from the mmap report, well before the 30 s full scan,
// and its requests are counted.
func TestTLSLibraryMappedLater(t *testing.T) {
	mapLibSSLLater(t, startTLS(t))
}

// The same while the probe's TCP ring is busy (every plaintext head goes
// through it while someone listens): the mmap report, in another ring of
// the same object, still wakes its reader, as each ring keeps its own
// wakeup time (with one for the object, the report waited for the 30 s
// full scan).
func TestTLSLibraryMappedLaterBesideBusyRing(t *testing.T) {
	f := startTLS(t)
	loadServer, loadClient := testutil.NewCgroup(t), testutil.NewCgroup(t)
	sub := f.bus.Subscribe(256, nil, func(e *events.Event) bool {
		return e.Kind == events.KindHTTP && e.Workload.Path == loadServer.Path
	})
	t.Cleanup(func() { f.bus.Unsubscribe(sub) })
	server := testutil.StartPiped(t, loadServer.Helper(t, "serve"))
	load := f.helper(t, loadClient, "load", "http", port(t, server), "1000000000")
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		load.Process.Kill()
		load.Wait()
	})
	busy := func() bool { return sub.Dropped() > 1000 } // past the subscription's 256
	testutil.Eventually(t, 10*time.Second, busy, "no plaintext heads streamed")
	mapLibSSLLater(t, f)
}

// mapLibSSLLater starts a TLS server on a copy of the system's libssl and
// counts its requests.
func mapLibSSLLater(t *testing.T, f *fixture) {
	t.Helper()
	dir := t.TempDir()
	system, err := os.ReadFile("/usr/lib/x86_64-linux-gnu/libssl.so.3")
	if err != nil {
		t.Skipf("no system libssl.so.3 to copy: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "libssl.so.3"), system, 0o644); err != nil {
		t.Fatal(err)
	}
	serverPort, server := f.startTLSServer(t, "LD_LIBRARY_PATH="+dir)
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", server.Cmd.Process.Pid))
	if err != nil || !strings.Contains(string(maps), filepath.Join(dir, "libssl.so.3")) {
		t.Fatalf("the server does not map the copy of libssl (%v)", err)
	}
	cmd := f.client.Command(t, mustLookPath(t, "python3"), "testdata/tls_client.py", serverPort, "5", "2")
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	f.expect(t, f.server, "server", map[[2]string]float64{{"GET", "200"}: 5, {"GET", "404"}: 2})
}

// Request heads written in three SSL_write calls (three records, read in
// three SSL_read calls by the server), cut inside the request line and a
// field, are followed as continuations and counted on both sides.
func TestTLSHeadsSplitOverCalls(t *testing.T) {
	const n = 9
	f := startTLS(t)
	serverPort, _ := f.startTLSServer(t)
	cmd := f.client.Command(t, mustLookPath(t, "python3"), "testdata/tls_split_client.py", serverPort, strconv.Itoa(n))
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	want := map[[2]string]float64{{"GET", "200"}: n}
	f.expectBothSides(t, want)
}

// By default (no --http-tls) nothing is hooked: the same HTTPS requests
// are not counted, on either side (the TCP programs cannot read them).
func TestTLSOff(t *testing.T) {
	f := start(t)
	cert, key := selfSigned(t)
	server := testutil.StartPiped(t, f.server.Command(t, mustLookPath(t, "python3"), "testdata/server.py", cert, key))
	cmd := f.client.Command(t, mustLookPath(t, "python3"), "testdata/tls_client.py", port(t, server), "5", "2")
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	time.Sleep(500 * time.Millisecond) // what a probe would have sent by now
	for _, cg := range []*testutil.Cgroup{f.server, f.client} {
		if v, ok := testutil.Sample(t, f.reg, "orb8_http_requests_total", map[string]string{"cgroup": cg.Path}); ok {
			t.Errorf("%s: %v requests counted with TLS off: %s", cg.Path, v, testutil.Series(t, f.reg, "orb8_http_requests_total"))
		}
	}
	if _, ok := testutil.Sample(t, f.reg, "orb8_http_tls_libraries_hooked", nil); ok {
		t.Error("orb8_http_tls_libraries_hooked exported with TLS off")
	}
	for _, m := range []*ebpf.Map{f.probe.bpf.TlsCalls, f.probe.bpf.TlsStreams, f.probe.bpf.GoTlsReads, f.probe.bpf.TlsMmapReported} {
		if n := m.MaxEntries(); n != 1 {
			t.Errorf("map %v holds %d entries with TLS off, want 1", m, n)
		}
	}
}

func TestIsLibSSL(t *testing.T) {
	for path, want := range map[string]bool{
		"/usr/lib/x86_64-linux-gnu/libssl.so.3":  true,
		"/usr/lib/libssl.so.1.1":                 true,
		"/opt/boringssl/lib/libssl.so":           true,
		"/usr/lib/x86_64-linux-gnu/libssl3.so":   false, // NSS
		"/usr/lib/libssl.so.3/not-a-library.txt": false,
		"/usr/lib/libcrypto.so.3":                false,
	} {
		if got := isLibSSL(path); got != want {
			t.Errorf("isLibSSL(%q) = %v, want %v", path, got, want)
		}
	}
}

// 37 requests answered 200 and 11 answered 404 over one HTTPS keep-alive
// connection between two processes that both use libssl, counted exactly on
// both sides: once, though the TCP programs see the same connection's
// (encrypted) packets. Each is one event per side, marked TLS.
func TestTLSPythonKeepAlive(t *testing.T) {
	f := startTLS(t)
	serverPort, _ := f.startTLSServer(t)
	sides := f.subscribeSides(t)
	cmd := f.client.Command(t, mustLookPath(t, "python3"), "testdata/tls_client.py", serverPort,
		strconv.Itoa(okRequests), strconv.Itoa(missingRequests))
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	want := map[[2]string]float64{{"GET", "200"}: okRequests, {"GET", "404"}: missingRequests}
	f.expectBothSides(t, want)

	for side, sub := range sides {
		got := receive(t, sub, okRequests+missingRequests)
		ok, missing := okRequests, missingRequests
		for i, e := range got {
			d := e.HTTP
			want := events.HTTP{Direction: side, Method: "GET", Path: "/ok", Status: 200, Protocol: "HTTP/1.1", TLS: true}
			if missingAt(i, ok, missing) {
				want.Path, want.Status = "/missing", 404
				missing--
			} else {
				ok--
			}
			if d.Direction != want.Direction || d.Method != want.Method || d.Path != want.Path || d.Status != want.Status ||
				d.Protocol != want.Protocol || !d.TLS || d.Latency <= 0 || d.Latency > time.Second || d.Peer.IsValid() {
				t.Errorf("%s event %d = %+v, want %+v with a latency and no peer", side, i, d, want)
			}
		}
	}
}

// The same server answering curl (libcurl over libssl), all URLs of one
// command over one connection.
func TestTLSCurlKeepAlive(t *testing.T) {
	f := startTLS(t)
	serverPort, _ := f.startTLSServer(t)
	args := []string{"--silent", "--show-error", "--insecure", "--http1.1", "--write-out", "%{http_code} %{num_connects}\\n"}
	var wantOut strings.Builder
	ok, missing := okRequests, missingRequests
	for i := 0; ok+missing > 0; i++ {
		path, code := "/ok", "200"
		if missingAt(i, ok, missing) {
			path, code = "/missing", "404"
			missing--
		} else {
			ok--
		}
		connects := "0" // reused
		if i == 0 {
			connects = "1"
		}
		args = append(args, "--output", "/dev/null", "https://127.0.0.1:"+serverPort+path)
		wantOut.WriteString(code + " " + connects + "\n")
	}
	out, err := f.client.Command(t, mustLookPath(t, "curl"), args...).Output()
	if err != nil || string(out) != wantOut.String() {
		t.Fatalf("curl: %v, said %q, want %q", err, out, wantOut.String())
	}
	want := map[[2]string]float64{{"GET", "200"}: okRequests, {"GET", "404"}: missingRequests}
	f.expectBothSides(t, want)
}

func TestTLSConnectionKeys(t *testing.T) {
	a, b := tlsConnection(100, 0x5555_0000_1000), tlsConnection(101, 0x5555_0000_1000)
	if a == b || a>>63 != 1 || b>>63 != 1 || tlsConnection(100, 0x5555_0000_1008) == a {
		t.Fatalf("keys %#x %#x: want distinct, top bit set", a, b)
	}
}

// HTTP/2 over libssl from a process that makes its connections one after
// another, each SSL object freed before the next is made (most often at
// the same address): every request is counted on the client side, the
// state of a freed SSL object forgotten at SSL_free.
func TestTLSH2SSLObjectsReused(t *testing.T) {
	const connections = 6
	bin := buildGoTLS(t)
	f := startTLS(t)
	f.startTLSServer(t) // its libssl hooked: the client's, the same file
	serverPort := f.startGoTLSServer(t, bin, "end-serve")
	cmd := f.client.Command(t, mustLookPath(t, "python3"), "testdata/h2_tls_client.py", serverPort,
		strconv.Itoa(connections), keepalive.EndPrefix+"Unavailable")
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	labels := map[string]string{"cgroup": f.client.Path, "direction": "client", "method": "GET", "status_code": "503"}
	value := func() float64 { v, _ := testutil.Sample(t, f.reg, "orb8_http_requests_total", labels); return v }
	testutil.Eventually(t, 3*time.Second, func() bool { return value() == connections },
		"client requests %v = %v, want %v; series: %s", labels, value(), connections, testutil.Series(t, f.reg, "orb8_http_requests_total"))
}
