package http

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/testutil"
)

// startTLSServer runs Python's http.server wrapped in ssl (libssl) in the
// server cgroup with a self-signed certificate made here, and returns its
// port once the probe has hooked the libssl it loaded (late, at import ssl).
func (f *fixture) startTLSServer(t *testing.T) string {
	t.Helper()
	cert, key := selfSigned(t)
	server := testutil.StartPiped(t, f.server.Command(t, mustLookPath(t, "python3"), "testdata/server.py", cert, key))
	serverPort := port(t, server)
	tlsHooked(t, f)
	return serverPort
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

// tlsHooked waits until the probe has hooked a libssl file: this machine's,
// which the test's Python and curl load.
func tlsHooked(t testing.TB, f *fixture) {
	t.Helper()
	hooked := func() float64 { v, _ := testutil.Sample(t, f.reg, "orb8_http_tls_libraries_hooked", nil); return v }
	testutil.Eventually(t, 5*time.Second, func() bool { return hooked() >= 1 }, "libssl files hooked: %v, want 1 or more", hooked())
}

// 37 requests answered 200 and 11 answered 404 over one HTTPS keep-alive
// connection between two processes that both use libssl, counted exactly on
// both sides: once, though the TCP programs see the same connection's
// (encrypted) packets. Each is one event per side, marked TLS.
func TestTLSPythonKeepAlive(t *testing.T) {
	f := start(t)
	serverPort := f.startTLSServer(t)
	sides := map[string]*events.Subscription{}
	for side, cg := range map[string]*testutil.Cgroup{"server": f.server, "client": f.client} {
		sub := f.bus.Subscribe(256, nil, func(e *events.Event) bool { return e.Kind == events.KindHTTP && e.Workload.Path == cg.Path })
		t.Cleanup(func() { f.bus.Unsubscribe(sub) })
		sides[side] = sub
	}
	cmd := f.client.Command(t, mustLookPath(t, "python3"), "testdata/tls_client.py", serverPort,
		strconv.Itoa(okRequests), strconv.Itoa(missingRequests))
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	want := map[[2]string]float64{{"GET", "200"}: okRequests, {"GET", "404"}: missingRequests}
	f.expect(t, f.server, "server", want)
	f.expect(t, f.client, "client", want)

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
	f := start(t)
	serverPort := f.startTLSServer(t)
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
	f.expect(t, f.server, "server", want)
	f.expect(t, f.client, "client", want)
}

func TestTLSConnectionKeys(t *testing.T) {
	a, b := tlsConnection(100, 0x5555_0000_1000), tlsConnection(101, 0x5555_0000_1000)
	if a == b || a>>63 != 1 || b>>63 != 1 || tlsConnection(100, 0x5555_0000_1008) == a {
		t.Fatalf("keys %#x %#x: want distinct, top bit set", a, b)
	}
}
