package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/server"
	"github.com/orb8/orb8/internal/testutil"
)

// The gRPC API serves TLS with --tls-cert/--tls-key and, with
// --tls-client-ca, only clients whose certificate that CA signed.
func TestAPIServesTLSAndMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.IssueCert(t, "orb8 test CA", nil, true)
	caFile, _ := ca.Write(t, dir, "ca")
	certFile, keyFile := testutil.IssueCert(t, "agent", ca, false).Write(t, dir, "agent")
	clientCert, clientKey := testutil.IssueCert(t, "client", ca, false).Write(t, dir, "client")
	strangerCert, strangerKey := testutil.IssueCert(t, "stranger", nil, false).Write(t, dir, "stranger")

	serve := func(files server.TLSFiles) string {
		srv, err := api.Listen("127.0.0.1:0", api.NewService(backend(t)), files)
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve()
		t.Cleanup(srv.Stop)
		return srv.Addr().String()
	}
	status := func(addr string, tlsOpts apiclient.TLS) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := apiclient.Dial(ctx, addr, tlsOpts, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Statuses(ctx)
		return err
	}

	tlsOnly := serve(server.TLSFiles{Cert: certFile, Key: keyFile})
	if err := status(tlsOnly, apiclient.TLS{CA: caFile}); err != nil {
		t.Fatalf("TLS: %v", err)
	}
	if err := status(tlsOnly, apiclient.TLS{}); err == nil {
		t.Fatal("a plain-text client reached a TLS API")
	}

	mutual := serve(server.TLSFiles{Cert: certFile, Key: keyFile, ClientCA: caFile})
	if err := status(mutual, apiclient.TLS{CA: caFile, Cert: clientCert, Key: clientKey}); err != nil {
		t.Fatalf("mTLS with a certificate from the CA: %v", err)
	}
	for name, opts := range map[string]apiclient.TLS{
		"no client certificate":    {CA: caFile},
		"another CA's certificate": {CA: caFile, Cert: strangerCert, Key: strangerKey},
	} {
		if err := status(mutual, opts); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("mTLS with %s: err = %v, want a one-line refusal", name, err)
		}
	}
}
