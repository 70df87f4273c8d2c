package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/access"
	"github.com/orb8/orb8/internal/testutil"
)

func serve(t *testing.T, files TLSFiles) string {
	t.Helper()
	s, err := Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }), files)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.srv.Close() })
	return s.Addr().String()
}

func get(addr string, cfg *tls.Config) error {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 5 * time.Second}
	resp, err := c.Get("https://" + addr + "/")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func TestTLSAndMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.IssueCert(t, "orb8 test CA", nil, true)
	serverPair := testutil.IssueCert(t, "agent", ca, false)
	client := testutil.IssueCert(t, "client", ca, false)
	stranger := testutil.IssueCert(t, "stranger", nil, false)
	caFile, _ := ca.Write(t, dir, "ca")
	certFile, keyFile := serverPair.Write(t, dir, "server")
	roots := x509.NewCertPool()
	roots.AddCert(ca.X509)

	plainTLS := serve(t, TLSFiles{Cert: certFile, Key: keyFile})
	if err := get(plainTLS, &tls.Config{RootCAs: roots}); err != nil {
		t.Fatalf("TLS: %v", err)
	}

	mtls := serve(t, TLSFiles{Cert: certFile, Key: keyFile, ClientCA: caFile})
	if err := get(mtls, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{client.TLS()}}); err != nil {
		t.Fatalf("mTLS with a client certificate from the CA: %v", err)
	}
	if err := get(mtls, &tls.Config{RootCAs: roots}); err == nil {
		t.Fatal("mTLS accepted a client without a certificate")
	}
	if err := get(mtls, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{stranger.TLS()}}); err == nil {
		t.Fatal("mTLS accepted a certificate from another CA")
	}
}

func TestBadTLSFilesAndAddresses(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not pem"), 0o600)
	ca := testutil.IssueCert(t, "ca", nil, true)
	certFile, keyFile := ca.Write(t, dir, "c")
	for _, tt := range []struct {
		name  string
		addr  string
		files TLSFiles
		want  string
	}{
		{"missing cert", "127.0.0.1:0", TLSFiles{Cert: filepath.Join(dir, "none"), Key: keyFile}, "load TLS key pair"},
		{"junk client CA", "127.0.0.1:0", TLSFiles{Cert: certFile, Key: keyFile, ClientCA: junk}, "holds no PEM certificate"},
		{"address in use", "", TLSFiles{}, "listen on"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.addr
			if addr == "" {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				addr = ln.Addr().String()
			}
			_, err := Listen(addr, http.NotFoundHandler(), tt.files)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// A client in the middle of a streamed answer does not hold Shutdown up.
func TestShutdownEndsStreamedAnswers(t *testing.T) {
	streaming := make(chan struct{})
	s, err := Listen("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		close(streaming)
		<-r.Context().Done()
	}), TLSFiles{})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	resp, err := http.Get("http://" + s.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-streaming
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a stream open: %v", err)
	}
}

// A certificate renewed on disk (a Secret volume the kubelet updated) is
// served from the next handshake on, without a restart.
func TestTLSReloadsRenewedCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.IssueCert(t, "orb8 test CA", nil, true)
	first := testutil.IssueCert(t, "first", ca, false)
	certFile, keyFile := first.Write(t, dir, "server")
	addr := serve(t, TLSFiles{Cert: certFile, Key: keyFile})
	roots := x509.NewCertPool()
	roots.AddCert(ca.X509)
	served := func() string {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := served(); got != "first" {
		t.Fatalf("serves %q, want first", got)
	}
	time.Sleep(reloadEvery) // a change is looked for at most once per reloadEvery
	second := testutil.IssueCert(t, "second", ca, false)
	tmpCert, tmpKey := second.Write(t, dir, "renewed")
	for _, mv := range [][2]string{{tmpKey, keyFile}, {tmpCert, certFile}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 3*reloadEvery, func() bool { return served() == "second" }, "the renewed certificate is not served")
}

func TestParseAddress(t *testing.T) {
	for in, want := range map[string]Address{
		"unix:///run/orb8/orb8.sock": {"unix", "/run/orb8/orb8.sock"},
		"unix:/run/orb8/orb8.sock":   {"unix", "/run/orb8/orb8.sock"},
		"127.0.0.1:9809":             {"tcp", "127.0.0.1:9809"},
		":9809":                      {"tcp", ":9809"},
		"[::1]:9809":                 {"tcp", "[::1]:9809"},
	} {
		if got, err := ParseAddress(in); err != nil || got != want {
			t.Errorf("ParseAddress(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "nohost", "unix://relative/path", "unix:///run/../etc/x", "127.0.0.1", "a b:1"} {
		if _, err := ParseAddress(bad); err == nil {
			t.Errorf("ParseAddress(%q) accepted", bad)
		}
	}
}

// fakeDecider knows one token, allowed to get /metrics.
type fakeDecider struct{}

func (fakeDecider) Token(_ context.Context, token string) (access.Identity, error) {
	switch token {
	case "scraper", "other":
		return access.Identity{User: token}, nil
	}
	return access.Identity{}, access.ErrUnauthenticated
}

func (fakeDecider) Allowed(_ context.Context, id access.Identity, a access.Attributes) (bool, error) {
	return id.User == "scraper" && a == access.Metrics, nil
}

// --metrics-auth kubernetes: /metrics needs a token allowed to get it.
func TestRequireToken(t *testing.T) {
	h := RequireToken(fakeDecider{}, access.Metrics, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "series") }))
	for header, want := range map[string]int{
		"":               http.StatusUnauthorized,
		"Basic abc":      http.StatusUnauthorized,
		"Bearer forged":  http.StatusUnauthorized,
		"Bearer other":   http.StatusForbidden,
		"Bearer scraper": http.StatusOK,
	} {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want || want == http.StatusOK && w.Body.String() != "series" {
			t.Errorf("Authorization %q: %d %q, want %d", header, w.Code, w.Body.String(), want)
		}
	}
}
