// Package access decides what a caller of the agent's API may see. A caller
// is authenticated by how it came (the local socket, a client certificate,
// a Kubernetes bearer token) and authorized per Kubernetes namespace the way
// the API server would: a workload of namespace N is visible to whoever may
// get pods in N; the node's own cgroups (no pod) and node-wide streams need
// a permission of their own, get on orb8.dev nodes/telemetry for this node.
//
// Decisions come from a Reviewer (Kubernetes TokenReview and
// SubjectAccessReview) and are cached briefly, as kubelet caches its webhook
// answers; every cache is bounded.
package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Identity is an authenticated caller.
type Identity struct {
	User   string
	UID    string
	Groups []string
	// Local callers came over the agent's unix socket, which only root can
	// open: they see everything, as root on the node can anyway.
	Local bool
}

// LocalRoot is the identity of callers of the local socket.
var LocalRoot = Identity{User: "local:root", Local: true}

// String names the caller in errors and logs.
func (id Identity) String() string {
	if id.Local {
		return "the local socket's caller"
	}
	return fmt.Sprintf("user %q", id.User)
}

func (id Identity) key() string {
	return id.User + "\x00" + id.UID + "\x00" + strings.Join(id.Groups, "\x00")
}

// Attributes is what a caller asks to do, in Kubernetes authorization terms:
// on a resource, or with Path set on a non-resource URL.
type Attributes struct {
	Verb, Group, Resource, Subresource, Namespace, Name string
	Path                                                string
}

// Metrics is the permission to scrape /metrics when it is protected.
var Metrics = Attributes{Verb: "get", Path: "/metrics"}

// NodeTelemetry is the permission to see the node's own cgroups and
// node-wide streams (its Name is set to the node when asked).
var NodeTelemetry = Attributes{Verb: "get", Group: "orb8.dev", Resource: "nodes", Subresource: "telemetry"}

// PodsIn is the permission to see the workloads of namespace ns ("": every
// namespace): get pods there.
func PodsIn(ns string) Attributes {
	return Attributes{Verb: "get", Resource: "pods", Namespace: ns}
}

// Reviewer authenticates bearer tokens and authorizes identities; the agent
// implements it with the Kubernetes API (internal/kube).
type Reviewer interface {
	ReviewToken(ctx context.Context, token string) (Identity, error)
	Allowed(ctx context.Context, id Identity, a Attributes) (bool, error)
}

// ErrUnauthenticated marks a token the reviewer did not accept.
var ErrUnauthenticated = errors.New("not authenticated")

// Cache lifetimes and bounds: as kubelet's webhook defaults for tokens (2 m)
// and a shorter life for decisions, so a revoked RoleBinding takes effect
// within a minute.
const (
	tokenTTL   = 2 * time.Minute
	allowTTL   = time.Minute
	denyTTL    = 10 * time.Second
	maxEntries = 4096
)

// Decider authenticates and authorizes through a Reviewer, with caches.
// It is safe for concurrent use.
type Decider struct {
	reviewer Reviewer
	node     string
	now      func() time.Time

	mu        sync.Mutex
	tokens    map[string]tokenEntry
	decisions map[decisionKey]decisionEntry
}

type tokenEntry struct {
	id      Identity
	err     error
	expires time.Time
}

type decisionKey struct {
	who   string
	attrs Attributes
}

type decisionEntry struct {
	allowed bool
	expires time.Time
}

// NewDecider decides for the agent of node with r. A nil r means no
// Kubernetes API: only local callers and client certificates authenticate,
// and any authenticated caller sees everything (a standalone host has no
// finer authority).
func NewDecider(r Reviewer, node string) *Decider {
	return &Decider{reviewer: r, node: node, now: time.Now, tokens: map[string]tokenEntry{}, decisions: map[decisionKey]decisionEntry{}}
}

// CanReviewTokens reports whether bearer tokens can be checked.
func (d *Decider) CanReviewTokens() bool { return d.reviewer != nil }

// Token authenticates a bearer token.
func (d *Decider) Token(ctx context.Context, token string) (Identity, error) {
	if d.reviewer == nil {
		return Identity{}, fmt.Errorf("%w: this agent has no Kubernetes API to review bearer tokens; use a client certificate", ErrUnauthenticated)
	}
	now := d.now()
	d.mu.Lock()
	e, ok := d.tokens[token]
	d.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.id, e.err
	}
	id, err := d.reviewer.ReviewToken(ctx, token)
	if err != nil && !errors.Is(err, ErrUnauthenticated) {
		return Identity{}, err // the API server is away: not an answer to cache
	}
	d.mu.Lock()
	evictExpired(d.tokens, now, func(e tokenEntry) time.Time { return e.expires })
	if len(d.tokens) < maxEntries {
		d.tokens[token] = tokenEntry{id, err, now.Add(tokenTTL)}
	}
	d.mu.Unlock()
	return id, err
}

// Allowed reports whether id may do a; NodeTelemetry is asked for this node.
func (d *Decider) Allowed(ctx context.Context, id Identity, a Attributes) (bool, error) {
	if id.Local || d.reviewer == nil {
		return true, nil
	}
	if a == NodeTelemetry {
		a.Name = d.node
	}
	now := d.now()
	k := decisionKey{id.key(), a}
	d.mu.Lock()
	e, ok := d.decisions[k]
	d.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.allowed, nil
	}
	allowed, err := d.reviewer.Allowed(ctx, id, a)
	if err != nil {
		return false, err
	}
	ttl := denyTTL
	if allowed {
		ttl = allowTTL
	}
	d.mu.Lock()
	evictExpired(d.decisions, now, func(e decisionEntry) time.Time { return e.expires })
	if len(d.decisions) < maxEntries {
		d.decisions[k] = decisionEntry{allowed, now.Add(ttl)}
	}
	d.mu.Unlock()
	return allowed, nil
}

// evictExpired makes room in a full cache by dropping expired entries; when
// none has expired the new entry is not cached (asked again next time).
func evictExpired[K comparable, V any](m map[K]V, now time.Time, expires func(V) time.Time) {
	if len(m) < maxEntries {
		return
	}
	for k, v := range m {
		if !now.Before(expires(v)) {
			delete(m, k)
		}
	}
}

// Scope is what one request's caller may see: decisions are asked on first
// use and kept for the request.
type Scope struct {
	ID  Identity
	ctx context.Context
	d   *Decider

	mu         sync.Mutex
	everywhere *bool
	host       *bool
	namespaces map[string]bool
	anyAllowed bool
	err        error
}

// NewScope starts the decisions of one request.
func (d *Decider) NewScope(ctx context.Context, id Identity) *Scope {
	return &Scope{ID: id, ctx: ctx, d: d, namespaces: map[string]bool{}}
}

// All reports whether the caller sees every workload: local, standalone, or
// allowed to get pods in every namespace and the node's telemetry.
func (s *Scope) All() bool {
	return s.ID.Local || s.d.reviewer == nil || s.Everywhere() && s.Host()
}

// Everywhere reports whether the caller may get pods in every namespace.
func (s *Scope) Everywhere() bool { return s.ask(&s.everywhere, PodsIn("")) }

// Host reports whether the caller may see the node's own cgroups.
func (s *Scope) Host() bool { return s.ask(&s.host, NodeTelemetry) }

// Namespace reports whether the caller may see the workloads of ns; the
// empty namespace is the node's own cgroups.
func (s *Scope) Namespace(ns string) bool {
	if ns == "" {
		return s.Host()
	}
	if s.ID.Local || s.d.reviewer == nil || s.Everywhere() {
		return true
	}
	s.mu.Lock()
	v, ok := s.namespaces[ns]
	s.mu.Unlock()
	if ok {
		return v
	}
	v, err := s.d.Allowed(s.ctx, s.ID, PodsIn(ns))
	s.mu.Lock()
	s.namespaces[ns] = v
	s.anyAllowed = s.anyAllowed || v
	if err != nil && s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	return v
}

func (s *Scope) ask(dst **bool, a Attributes) bool {
	s.mu.Lock()
	if *dst != nil {
		v := **dst
		s.mu.Unlock()
		return v
	}
	s.mu.Unlock()
	v, err := s.d.Allowed(s.ctx, s.ID, a)
	s.mu.Lock()
	*dst = &v
	s.anyAllowed = s.anyAllowed || v
	if err != nil && s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	return v
}

// AnyAllowed reports whether any decision so far let the caller see
// something; All callers always do.
func (s *Scope) AnyAllowed() bool {
	if s.All() {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.anyAllowed
}

// Err is the first error a decision met (the API server away): a caller
// then sees less, and the answer should say why.
func (s *Scope) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Denied says what the caller may not see, for the answer's error: the
// namespaces asked and refused (sorted), and the node's telemetry.
func (s *Scope) Denied() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ns []string
	for n, ok := range s.namespaces {
		if !ok {
			ns = append(ns, n)
		}
	}
	slices.Sort(ns)
	parts := []string{}
	if len(ns) > 0 {
		parts = append(parts, "get pods in namespace "+strings.Join(ns, ", "))
	}
	if s.host != nil && !*s.host {
		parts = append(parts, "get orb8.dev nodes/telemetry on node "+s.d.node)
	}
	return strings.Join(parts, "; ")
}
