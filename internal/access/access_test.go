package access

import (
	"context"
	"errors"
	"testing"
	"time"
)

// countingReviewer counts what it is asked; user "admin" may do anything,
// "viewer" may get pods in "shop".
type countingReviewer struct{ tokens, reviews int }

func (r *countingReviewer) ReviewToken(_ context.Context, token string) (Identity, error) {
	r.tokens++
	if token == "good" {
		return Identity{User: "viewer"}, nil
	}
	return Identity{}, ErrUnauthenticated
}

func (r *countingReviewer) Allowed(_ context.Context, id Identity, a Attributes) (bool, error) {
	r.reviews++
	return id.User == "admin" || a == PodsIn("shop"), nil
}

func TestDeciderCachesAndExpires(t *testing.T) {
	r := &countingReviewer{}
	d := NewDecider(r, "node-a")
	now := time.Unix(1000, 0)
	d.now = func() time.Time { return now }
	ctx := context.Background()
	for range 3 {
		if id, err := d.Token(ctx, "good"); err != nil || id.User != "viewer" {
			t.Fatalf("good token: %v, %v", id, err)
		}
		if _, err := d.Token(ctx, "bad"); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("bad token: %v", err)
		}
	}
	if r.tokens != 2 {
		t.Errorf("%d token reviews for 2 tokens asked 3 times each", r.tokens)
	}
	viewer := Identity{User: "viewer"}
	for range 3 {
		if ok, _ := d.Allowed(ctx, viewer, PodsIn("shop")); !ok {
			t.Fatal("viewer may get pods in shop")
		}
		if ok, _ := d.Allowed(ctx, viewer, PodsIn("kube-system")); ok {
			t.Fatal("viewer may not get pods in kube-system")
		}
	}
	if r.reviews != 2 {
		t.Errorf("%d reviews for 2 decisions asked 3 times each", r.reviews)
	}
	now = now.Add(denyTTL + time.Second) // the refusal expires, the permission not yet
	d.Allowed(ctx, viewer, PodsIn("shop"))
	d.Allowed(ctx, viewer, PodsIn("kube-system"))
	if r.reviews != 3 {
		t.Errorf("after %v: %d reviews, want 3 (only the refusal asked again)", denyTTL, r.reviews)
	}
	if ok, _ := d.Allowed(ctx, LocalRoot, NodeTelemetry); !ok {
		t.Error("the local socket's caller is root")
	}
}

func TestDeciderCachesAreBounded(t *testing.T) {
	r := &countingReviewer{}
	d := NewDecider(r, "node-a")
	ctx := context.Background()
	for i := range 3 * maxEntries {
		d.Allowed(ctx, Identity{User: "admin"}, PodsIn(string(rune('a'+i%26))+time.Duration(i).String()))
		d.Token(ctx, time.Duration(i).String())
	}
	if len(d.decisions) > maxEntries || len(d.tokens) > maxEntries {
		t.Errorf("caches hold %d decisions and %d tokens, bound %d", len(d.decisions), len(d.tokens), maxEntries)
	}
}

func TestScopeAsksOncePerRequest(t *testing.T) {
	r := &countingReviewer{}
	d := NewDecider(r, "node-a")
	s := d.NewScope(context.Background(), Identity{User: "viewer"})
	for range 5 {
		if !s.Namespace("shop") || s.Namespace("tools") || s.Namespace("") {
			t.Fatal("viewer sees shop only")
		}
	}
	// everywhere (once), shop, tools, the node's telemetry (for "").
	if r.reviews != 4 {
		t.Errorf("%d reviews, want 4", r.reviews)
	}
	if !s.AnyAllowed() || s.All() {
		t.Error("viewer sees something, not all")
	}
	if got := s.Denied(); got != "get pods in namespace tools; get orb8.dev nodes/telemetry on node node-a" {
		t.Errorf("Denied() = %q", got)
	}
}
