package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/orb8/orb8/internal/access"
)

// Decider is what RequireToken asks: who a token is, and what it may do.
type Decider interface {
	Token(ctx context.Context, token string) (access.Identity, error)
	Allowed(ctx context.Context, id access.Identity, a access.Attributes) (bool, error)
}

// RequireToken serves next only to callers whose bearer token d authenticates
// and allows a (the kube-rbac-proxy model): 401 without a token or with one
// the API server does not know, 403 when it is not allowed, 503 when the
// API server cannot be asked.
func RequireToken(d Decider, a access.Attributes, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="orb8"`)
			http.Error(w, "this endpoint needs a Kubernetes bearer token (Authorization: Bearer TOKEN)", http.StatusUnauthorized)
			return
		}
		id, err := d.Token(r.Context(), token)
		switch {
		case errors.Is(err, access.ErrUnauthenticated):
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		case err != nil:
			http.Error(w, "cannot authenticate now: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		allowed, err := d.Allowed(r.Context(), id, a)
		switch {
		case err != nil:
			http.Error(w, "cannot authorize now: "+err.Error(), http.StatusServiceUnavailable)
		case !allowed:
			http.Error(w, id.String()+" may not "+a.Verb+" "+a.Path, http.StatusForbidden)
		default:
			next.ServeHTTP(w, r)
		}
	})
}
