package api

import (
	"context"
	"time"

	"github.com/orb8/orb8/internal/access"
)

// SetStallLimit shortens how long a stream may stall, for a test.
func SetStallLimit(d time.Duration) (restore func()) {
	old := stallLimit
	stallLimit = d
	return func() { stallLimit = old }
}

// AsCaller is ctx as a call from id, decided by d.
func AsCaller(ctx context.Context, d *access.Decider, id access.Identity) context.Context {
	return context.WithValue(ctx, scopeKey{}, d.NewScope(ctx, id))
}
