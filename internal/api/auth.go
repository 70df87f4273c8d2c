package api

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/orb8/orb8/internal/access"
)

// authenticator names the callers of one listener. Callers of the local
// socket are root (the socket is root's alone); a TCP caller shows a client
// certificate that the listener's TLS verified against the client CA
// (user: its common name, groups: its organizations, as Kubernetes reads
// certificates), or a bearer token that the decider reviews.
type authenticator struct {
	local   bool
	decider *access.Decider
}

type scopeKey struct{}

func (a authenticator) scope(ctx context.Context) (context.Context, error) {
	id, err := a.identity(ctx)
	if err != nil {
		return nil, err
	}
	return context.WithValue(ctx, scopeKey{}, a.decider.NewScope(ctx, id)), nil
}

func (a authenticator) identity(ctx context.Context) (access.Identity, error) {
	if a.local {
		return access.LocalRoot, nil
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if auth := md.Get("authorization"); len(auth) > 0 {
			token, ok := strings.CutPrefix(auth[0], "Bearer ")
			if !ok || token == "" {
				return access.Identity{}, status.Error(codes.Unauthenticated, `the authorization metadata must be "Bearer TOKEN"`)
			}
			id, err := a.decider.Token(ctx, token)
			if errors.Is(err, access.ErrUnauthenticated) {
				return access.Identity{}, status.Error(codes.Unauthenticated, err.Error())
			}
			if err != nil {
				return access.Identity{}, status.Errorf(codes.Unavailable, "cannot authenticate the caller now: %v", err)
			}
			return id, nil
		}
	}
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.VerifiedChains) > 0 && len(info.State.VerifiedChains[0]) > 0 {
			subject := info.State.VerifiedChains[0][0].Subject
			if subject.CommonName != "" {
				return access.Identity{User: subject.CommonName, Groups: subject.Organization}, nil
			}
		}
	}
	how := "a client certificate signed by the agent's --api-client-ca"
	if a.decider.CanReviewTokens() {
		how += " or a Kubernetes bearer token"
	}
	return access.Identity{}, status.Error(codes.Unauthenticated, "this agent's API needs "+how)
}

func (a authenticator) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := a.scope(ctx)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (a authenticator) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := a.scope(ss.Context())
	if err != nil {
		return err
	}
	return handler(srv, scopedStream{ss, ctx})
}

type scopedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s scopedStream) Context() context.Context { return s.ctx }

// everything is the scope of in-process callers (the embedded `orb8 top`,
// tests): they are the agent.
var everything = access.NewDecider(nil, "")

// scopeOf is what the caller of ctx may see.
func scopeOf(ctx context.Context) *access.Scope {
	if s, ok := ctx.Value(scopeKey{}).(*access.Scope); ok {
		return s
	}
	return everything.NewScope(ctx, access.LocalRoot)
}

// denied is the error of a caller who may see none of what was asked.
func denied(s *access.Scope) error {
	if err := s.Err(); err != nil {
		return status.Errorf(codes.Unavailable, "cannot decide what %s may see now: %v", s.ID, err)
	}
	return status.Errorf(codes.PermissionDenied, "%s may see none of this node's workloads: %s may not %s", s.ID, s.ID.User, s.Denied())
}
