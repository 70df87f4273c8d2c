package api_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/access"
	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/server"
	"github.com/orb8/orb8/internal/testutil"
)

// fakeReviewer stands in for the API server: tokens name users, and users
// may get pods in the namespaces listed ("*": every one, and the node).
type fakeReviewer struct {
	tokens map[string]string   // token -> user
	rights map[string][]string // user -> namespaces
}

func (f fakeReviewer) ReviewToken(_ context.Context, token string) (access.Identity, error) {
	if u, ok := f.tokens[token]; ok {
		return access.Identity{User: u}, nil
	}
	return access.Identity{}, access.ErrUnauthenticated
}

func (f fakeReviewer) Allowed(_ context.Context, id access.Identity, a access.Attributes) (bool, error) {
	for _, ns := range f.rights[id.User] {
		if ns == "*" || a.Resource == "pods" && a.Namespace == ns {
			return true, nil
		}
	}
	return false, nil
}

// A TCP API needs TLS, and its callers a client certificate from the client
// CA or a bearer token the API server knows; a unix socket's callers are
// root. Each caller sees the namespaces it may get pods in.
func TestAPIAuthenticatesAndAuthorizesCallers(t *testing.T) {
	dir := t.TempDir()
	ca := testutil.IssueCert(t, "orb8 test CA", nil, true)
	caFile, _ := ca.Write(t, dir, "ca")
	certFile, keyFile := testutil.IssueCert(t, "orb8-agent", ca, false).Write(t, dir, "agent")
	adminCert, adminKey := testutil.IssueCert(t, "admin", ca, false).Write(t, dir, "admin")
	strangerCert, strangerKey := testutil.IssueCert(t, "admin", nil, false).Write(t, dir, "stranger")
	reviewer := fakeReviewer{
		tokens: map[string]string{"shop-token": "shop-viewer", "nothing-token": "nobody"},
		rights: map[string][]string{"admin": {"*"}, "shop-viewer": {"shop"}},
	}
	decider := access.NewDecider(reviewer, "node-a")
	svc := api.NewService(backendWithHost(t))

	if _, err := api.Listen(server.Address{Network: "tcp", Addr: "127.0.0.1:0"}, svc, server.TLSFiles{}, decider); err == nil ||
		!strings.Contains(err.Error(), "needs TLS") {
		t.Fatalf("a TCP API without TLS: %v", err)
	}
	srv, err := api.Listen(server.Address{Network: "tcp", Addr: "127.0.0.1:0"}, svc, server.TLSFiles{Cert: certFile, Key: keyFile, ClientCA: caFile}, decider)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(srv.Stop)
	addr := srv.Addr().String()
	workloads := func(opts apiclient.TLS, ns string) ([]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := apiclient.Dial(ctx, addr, opts, 2*time.Second)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		list, err := c.Workloads(ctx, &pb.ListWorkloadsRequest{Filter: &pb.WorkloadFilter{Namespace: ns}})
		var names []string
		for _, w := range list {
			names = append(names, w.GetWorkload().GetNamespace()+"/"+w.GetWorkload().GetPod())
		}
		slices.Sort(names)
		return names, err
	}
	verify := apiclient.TLS{CA: caFile, ServerName: "orb8-agent"}
	withCert, withStranger, withToken := verify, verify, verify
	withCert.Cert, withCert.Key = adminCert, adminKey
	withStranger.Cert, withStranger.Key = strangerCert, strangerKey

	if got, err := workloads(withCert, ""); err != nil || strings.Join(got, ",") != "/,shop/db-1,shop/web-1,tools/probe" {
		t.Errorf("admin by certificate: %v, %v; want every workload", got, err)
	}
	withToken.Token = "shop-token"
	if got, err := workloads(withToken, ""); err != nil || strings.Join(got, ",") != "shop/db-1,shop/web-1" {
		t.Errorf("shop viewer by token: %v, %v; want shop's workloads only", got, err)
	}
	if _, err := workloads(withToken, "tools"); !apiclient.IsDenied(err) || !strings.Contains(err.Error(), "tools") {
		t.Errorf("shop viewer asking for namespace tools: %v, want a refusal naming it", err)
	}
	withToken.Token = "nothing-token"
	if _, err := workloads(withToken, ""); !apiclient.IsDenied(err) || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("a user with no rights: %v, want a refusal naming the user", err)
	}
	for name, opts := range map[string]apiclient.TLS{
		"no credentials":             verify,
		"another CA's certificate":   withStranger,
		"a token the API server not": {CA: caFile, ServerName: "orb8-agent", Token: "forged"},
	} {
		if _, err := workloads(opts, ""); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want a one-line refusal", name, err)
		}
	}
	// A stream of the whole node needs the right to see all of it.
	withToken.Token = "shop-token"
	c, err := apiclient.Dial(context.Background(), addr, withToken, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Watch(context.Background(), &pb.WatchEventsRequest{Kinds: []string{"exec"}}, func(*pb.WatchEventsResponse) error { return nil })
	if !apiclient.IsDenied(err) || !strings.Contains(err.Error(), "give a namespace") {
		t.Errorf("a node-wide stream for the shop viewer: %v", err)
	}

	// The unix socket's callers are root: everything, no credentials.
	local, err := api.Listen(server.Address{Network: "unix", Addr: strings.TrimPrefix(testutil.Socket(t), "unix://")}, svc, server.TLSFiles{}, decider)
	if err != nil {
		t.Fatal(err)
	}
	go local.Serve()
	t.Cleanup(local.Stop)
	lc, err := apiclient.Dial(context.Background(), local.Addr().String(), apiclient.TLS{}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	if list, err := lc.Workloads(context.Background(), &pb.ListWorkloadsRequest{}); err != nil || len(list) != 4 {
		t.Errorf("local socket: %d workloads, %v; want 4", len(list), err)
	}
}

// backendWithHost is backend with a workload of another namespace and one
// of the node itself (no pod).
func backendWithHost(t *testing.T) api.Backend {
	b := backend(t)
	reg := b.Metrics.(*prometheus.Registry)
	execs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orb8_process_running"}, []string{"namespace", "pod", "container", "cgroup"})
	reg.MustRegister(execs)
	execs.WithLabelValues("tools", "probe", "p", "/kubepods/pod3/c3").Add(1)
	execs.WithLabelValues("", "", "", "/").Add(1)
	return b
}
