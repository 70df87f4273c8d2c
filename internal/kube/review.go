package kube

import (
	"context"
	"fmt"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/rest"

	"github.com/orb8/orb8/internal/access"
	"github.com/orb8/orb8/internal/humanize"
)

// Reviewer asks the API server who a bearer token belongs to (TokenReview)
// and whether an identity may do something (SubjectAccessReview): the
// access.Reviewer of an agent in a cluster. Its RBAC: create on
// tokenreviews and subjectaccessreviews (system:auth-delegator).
type Reviewer struct {
	authn, authz rest.Interface
	// audiences the tokens must be meant for; empty: the API server's own.
	audiences []string
}

// NewReviewer reviews through the API server cfg points at.
func NewReviewer(cfg *rest.Config) (*Reviewer, error) {
	authn, err := RESTClient(cfg, authnv1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	authz, err := RESTClient(cfg, authzv1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	return &Reviewer{authn: authn, authz: authz}, nil
}

// ReviewToken implements access.Reviewer.
func (r *Reviewer) ReviewToken(ctx context.Context, token string) (access.Identity, error) {
	review := &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token, Audiences: r.audiences}}
	var out authnv1.TokenReview
	if err := r.authn.Post().Resource("tokenreviews").Body(review).Do(ctx).Into(&out); err != nil {
		return access.Identity{}, fmt.Errorf("review token: %s", humanize.OneLine(err.Error()))
	}
	if !out.Status.Authenticated {
		msg := out.Status.Error
		if msg == "" {
			msg = "the API server does not know this token"
		}
		return access.Identity{}, fmt.Errorf("%w: %s", access.ErrUnauthenticated, msg)
	}
	u := out.Status.User
	return access.Identity{User: u.Username, UID: u.UID, Groups: u.Groups}, nil
}

// Allowed implements access.Reviewer.
func (r *Reviewer) Allowed(ctx context.Context, id access.Identity, a access.Attributes) (bool, error) {
	review := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{User: id.User, UID: id.UID, Groups: id.Groups}}
	if a.Path != "" {
		review.Spec.NonResourceAttributes = &authzv1.NonResourceAttributes{Path: a.Path, Verb: a.Verb}
	} else {
		review.Spec.ResourceAttributes = &authzv1.ResourceAttributes{
			Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource, Namespace: a.Namespace, Name: a.Name,
		}
	}
	var out authzv1.SubjectAccessReview
	if err := r.authz.Post().Resource("subjectaccessreviews").Body(review).Do(ctx).Into(&out); err != nil {
		return false, fmt.Errorf("review access: %s", humanize.OneLine(err.Error()))
	}
	return out.Status.Allowed, nil
}
