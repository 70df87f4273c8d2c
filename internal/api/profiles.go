package api

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/anomaly"
)

// ProfileSource is the behaviour profiles of --anomaly-detection
// (anomaly.Store).
type ProfileSource interface {
	Profiles() []anomaly.Profile
	Profile(identity string) (anomaly.Profile, bool)
	Reset(identity string) bool
	Relearn(identity string, now time.Time) bool
}

// maxIdentity bounds an identity asked for: a cgroup path's bound.
const maxIdentity = maxCgroupPath

// ListProfiles implements pb.AgentServer.
func (s *Service) ListProfiles(ctx context.Context, req *pb.ListProfilesRequest) (*pb.ListProfilesResponse, error) {
	if len(req.GetIdentity()) > maxIdentity || len(req.GetNamespace()) > maxNamespace {
		return nil, status.Error(codes.InvalidArgument, "identity or namespace too long")
	}
	if s.b.Profiles == nil {
		return nil, status.Error(codes.FailedPrecondition, "this agent keeps no profiles: it runs without --anomaly-detection")
	}
	var profiles []anomaly.Profile
	if id := req.GetIdentity(); id != "" {
		if p, ok := s.b.Profiles.Profile(id); ok {
			profiles = append(profiles, p)
		}
	} else {
		profiles = s.b.Profiles.Profiles()
	}
	scope := scopeOf(ctx)
	resp := &pb.ListProfilesResponse{}
	now := time.Now()
	for i := range profiles {
		p := &profiles[i]
		if ns := req.GetNamespace(); ns != "" && p.Identity.Namespace != ns || !scope.Namespace(p.Identity.Namespace) {
			continue
		}
		resp.Profiles = append(resp.Profiles, profileMessage(p, s.b.Node, now))
	}
	if len(profiles) > 0 && len(resp.Profiles) == 0 && req.GetNamespace() == "" && !scope.AnyAllowed() {
		return nil, denied(scope)
	}
	if req.GetIdentity() != "" && len(resp.Profiles) == 0 {
		return nil, status.Errorf(codes.NotFound, "no profile %q on node %s", req.GetIdentity(), s.b.Node)
	}
	return resp, nil
}

// ResetProfile implements pb.AgentServer.
func (s *Service) ResetProfile(ctx context.Context, req *pb.ResetProfileRequest) (*pb.ResetProfileResponse, error) {
	if len(req.GetIdentity()) > maxIdentity {
		return nil, status.Error(codes.InvalidArgument, "identity too long")
	}
	if scope := scopeOf(ctx); !scope.ID.Local {
		return nil, status.Errorf(codes.PermissionDenied, "%s may not reset profiles: only callers of the agent's local socket may", scope.ID)
	}
	if s.b.Profiles == nil {
		return nil, status.Error(codes.FailedPrecondition, "this agent keeps no profiles: it runs without --anomaly-detection")
	}
	id := req.GetIdentity()
	if req.GetRelearn() {
		if !s.b.Profiles.Relearn(id, time.Now()) {
			return nil, status.Errorf(codes.NotFound, "no profile %q on node %s", id, s.b.Node)
		}
		p, _ := s.b.Profiles.Profile(id)
		return &pb.ResetProfileResponse{Profile: profileMessage(&p, s.b.Node, time.Now())}, nil
	}
	if !s.b.Profiles.Reset(id) {
		return nil, status.Errorf(codes.NotFound, "no profile %q on node %s", id, s.b.Node)
	}
	return &pb.ResetProfileResponse{}, nil
}

func profileMessage(p *anomaly.Profile, node string, now time.Time) *pb.Profile {
	m := &pb.Profile{
		Identity: p.Identity.String(), Namespace: p.Identity.Namespace, OwnerKind: p.Identity.OwnerKind, Owner: p.Identity.Owner,
		Container: p.Identity.Container, Cgroup: p.Identity.Cgroup,
		FirstSeen: timestamppb.New(p.FirstSeen), LearnUntil: timestamppb.New(p.LearnUntil), LastSeen: timestamppb.New(p.LastSeen),
		Learning: p.Learning(now), Node: node,
	}
	for _, k := range anomaly.Kinds {
		set := &pb.ProfileSet{Kind: string(k), Items: p.Items[k], Overflow: p.Overflow[k]}
		for _, r := range p.Anomalies[k] {
			set.Anomalies = append(set.Anomalies, &pb.RaisedItem{Item: r.Item, Time: timestamppb.New(r.Time)})
		}
		if len(set.Items) > 0 || len(set.Anomalies) > 0 || set.Overflow > 0 {
			m.Sets = append(m.Sets, set)
		}
	}
	return m
}
