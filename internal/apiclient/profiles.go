package apiclient

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// ProfileClient reaches the behaviour profiles of agents: one (Agent) or
// several (Multi, Cluster), whose lists are merged. A hub keeps none.
type ProfileClient interface {
	Profiles(ctx context.Context, req *pb.ListProfilesRequest) ([]*pb.Profile, error)
	// ResetProfile resets the profile on every agent that has it; it
	// fails when none has.
	ResetProfile(ctx context.Context, req *pb.ResetProfileRequest) ([]*pb.Profile, error)
}

// Profiles implements ProfileClient.
func (a *Agent) Profiles(ctx context.Context, req *pb.ListProfilesRequest) ([]*pb.Profile, error) {
	var tr metadata.MD
	resp, err := a.api.ListProfiles(ctx, req, grpc.Trailer(&tr))
	return resp.GetProfiles(), a.result(err, tr)
}

// ResetProfile implements ProfileClient.
func (a *Agent) ResetProfile(ctx context.Context, req *pb.ResetProfileRequest) ([]*pb.Profile, error) {
	resp, err := a.api.ResetProfile(ctx, req)
	if err != nil {
		return nil, a.wrap(err)
	}
	if p := resp.GetProfile(); p != nil {
		return []*pb.Profile{p}, nil
	}
	return nil, nil
}

// Profiles implements ProfileClient.
func (m *Multi) Profiles(ctx context.Context, req *pb.ListProfilesRequest) ([]*pb.Profile, error) {
	parts, err := gatherAll(m, func(c Client) ([]*pb.Profile, error) {
		pc, ok := c.(ProfileClient)
		if !ok {
			return nil, errNoProfiles
		}
		return pc.Profiles(ctx, req)
	})
	return flatten(parts), err
}

// ResetProfile implements ProfileClient: every agent is asked, and the
// reset is done where the profile is (an identity's pods may run on
// several nodes, each with its own profile).
func (m *Multi) ResetProfile(ctx context.Context, req *pb.ResetProfileRequest) ([]*pb.Profile, error) {
	found := make([]bool, len(m.members))
	out := make([][]*pb.Profile, len(m.members))
	errs := make([]error, len(m.members))
	_ = m.each(func(i int, c Client) error {
		pc, ok := c.(ProfileClient)
		if !ok {
			errs[i] = errNoProfiles
			return nil
		}
		out[i], errs[i] = pc.ResetProfile(ctx, req)
		found[i] = errs[i] == nil
		return nil
	})
	for _, f := range found {
		if f {
			return flatten(out), nil
		}
	}
	return nil, fmt.Errorf("no agent reset profile %q: %w", req.GetIdentity(), errors.Join(errs...))
}

var errNoProfiles = errors.New("this client reaches no agent's profiles")
