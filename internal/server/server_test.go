package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
