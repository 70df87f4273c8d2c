package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/access"
	"github.com/orb8/orb8/internal/anomaly"
	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/server"
	"github.com/orb8/orb8/internal/testutil"
)

func profileStore() *anomaly.Store {
	s := anomaly.NewStore(anomaly.Options{Learning: time.Minute, MaxProfiles: 10, MaxItems: 10})
	t0 := time.Now().Add(-time.Hour)
	shop := anomaly.Identity{Namespace: "shop", OwnerKind: "Deployment", Owner: "web", Container: "nginx"}
	s.Observe(shop, anomaly.NewBinary, "/usr/sbin/nginx", t0)
	s.Observe(shop, anomaly.NewBinary, "/bin/sh", time.Now())
	s.Observe(anomaly.Identity{Namespace: "tools", OwnerKind: "Job", Owner: "probe", Container: "c"}, anomaly.NewBinary, "/bin/true", t0)
	s.Observe(anomaly.Identity{Cgroup: "/system.slice/sshd.service"}, anomaly.NewBinary, "/usr/sbin/sshd", t0)
	return s
}

func identities(list []*pb.Profile) string {
	var out []string
	for _, p := range list {
		out = append(out, p.GetIdentity())
	}
	return strings.Join(out, ",")
}

// Profiles: the local socket sees and resets every profile; a TCP caller
// sees the namespaces it may get pods in and may reset none.
func TestProfilesAPI(t *testing.T) {
	store := profileStore()
	b := backend(t)
	b.Profiles = store
	svc := api.NewService(b)
	ctx := context.Background()

	local := serveLocal(t, svc)
	all, err := local.Profiles(ctx, &pb.ListProfilesRequest{})
	if err != nil || identities(all) != "/system.slice/sshd.service,shop/deployment/web/nginx,tools/job/probe/c" {
		t.Fatalf("local list: %s, %v", identities(all), err)
	}
	one, err := local.Profiles(ctx, &pb.ListProfilesRequest{Identity: "shop/deployment/web/nginx"})
	if err != nil || len(one) != 1 || one[0].GetLearning() || len(one[0].GetSets()) != 1 ||
		one[0].GetSets()[0].GetItems()[0] != "/usr/sbin/nginx" || one[0].GetSets()[0].GetAnomalies()[0].GetItem() != "/bin/sh" {
		t.Fatalf("show: %v, %v", one, err)
	}
	if _, err := local.Profiles(ctx, &pb.ListProfilesRequest{Identity: "shop/deployment/gone/x"}); err == nil || !strings.Contains(err.Error(), "no profile") {
		t.Errorf("show of a missing profile: %v, want an error saying there is none", err)
	}

	dir := t.TempDir()
	ca := testutil.IssueCert(t, "orb8 test CA", nil, true)
	caFile, _ := ca.Write(t, dir, "ca")
	certFile, keyFile := testutil.IssueCert(t, "orb8-agent", ca, false).Write(t, dir, "agent")
	decider := access.NewDecider(fakeReviewer{tokens: map[string]string{"shop-token": "shop-viewer"}, rights: map[string][]string{"shop-viewer": {"shop"}}}, "node-a")
	srv, err := api.Listen(server.Address{Network: "tcp", Addr: "127.0.0.1:0"}, svc, server.TLSFiles{Cert: certFile, Key: keyFile, ClientCA: caFile}, decider)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(srv.Stop)
	remote, err := apiclient.Dial(ctx, srv.Addr().String(), apiclient.TLS{CA: caFile, ServerName: "orb8-agent", Token: "shop-token"}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { remote.Close() })
	if got, err := remote.Profiles(ctx, &pb.ListProfilesRequest{}); err != nil || identities(got) != "shop/deployment/web/nginx" {
		t.Errorf("shop viewer's list: %s, %v; want shop's profile only", identities(got), err)
	}
	if _, err := remote.ResetProfile(ctx, &pb.ResetProfileRequest{Identity: "shop/deployment/web/nginx"}); !apiclient.IsDenied(err) {
		t.Errorf("a TCP caller's reset: %v, want a refusal", err)
	}
	if _, ok := store.Profile("shop/deployment/web/nginx"); !ok {
		t.Fatal("a refused reset forgot the profile")
	}

	relearned, err := local.ResetProfile(ctx, &pb.ResetProfileRequest{Identity: "shop/deployment/web/nginx", Relearn: true})
	if err != nil || len(relearned) != 1 || !relearned[0].GetLearning() || len(relearned[0].GetSets()[0].GetItems()) != 2 {
		t.Errorf("relearn: %v, %v; want it learning with /bin/sh learned", relearned, err)
	}
	if _, err := local.ResetProfile(ctx, &pb.ResetProfileRequest{Identity: "tools/job/probe/c"}); err != nil {
		t.Errorf("reset: %v", err)
	}
	if _, ok := store.Profile("tools/job/probe/c"); ok {
		t.Error("a reset profile is still there")
	}
	if _, err := local.ResetProfile(ctx, &pb.ResetProfileRequest{Identity: "tools/job/probe/c"}); err == nil || !strings.Contains(err.Error(), "no profile") {
		t.Errorf("reset of a missing profile: %v", err)
	}
}

// Without --anomaly-detection the profiles calls say so.
func TestProfilesAPIWithoutDetection(t *testing.T) {
	local := serveLocal(t, api.NewService(backend(t)))
	if _, err := local.Profiles(context.Background(), &pb.ListProfilesRequest{}); err == nil || !strings.Contains(err.Error(), "--anomaly-detection") {
		t.Errorf("list without profiles: %v", err)
	}
}
