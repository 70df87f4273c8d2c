package hub

import (
	"context"
	"fmt"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/encoded"
)

// connect reaches a member's agents. A member that cannot be reached now is
// not an error here: its client fails every call with the reason, so each
// answer names it and the rest of the fleet still answers.
func connect(ctx context.Context, m Member) apiclient.Client {
	var (
		c   apiclient.Client
		err error
	)
	if len(m.Agents) == 0 {
		ctx, cancel := context.WithTimeout(ctx, m.Timeout)
		defer cancel()
		c, err = apiclient.ConnectCluster(ctx, apiclient.ClusterOptions{Kubeconfig: m.Kubeconfig, Context: m.Context,
			Namespace: m.AgentNamespace, DaemonSet: m.AgentDaemonSet, Timeout: m.Timeout})
	} else {
		tls := apiclient.TLS{CA: m.TLS.CA, Cert: m.TLS.Cert, Key: m.TLS.Key, ServerName: m.TLS.ServerName}
		agents := make([]apiclient.Client, 0, len(m.Agents))
		for _, addr := range m.Agents {
			var a *apiclient.Agent
			if a, err = apiclient.DialMember(ctx, addr, tls, m.Timeout); err != nil {
				break
			}
			agents = append(agents, a)
		}
		if err != nil {
			for _, a := range agents {
				a.Close()
			}
		} else {
			c = apiclient.NewMulti(agents...)
		}
	}
	if err != nil {
		c = unreachable{err}
	}
	return labelled{Client: c, m: m}
}

// labelled is a member's client: every call has the member's timeout,
// every record the member's name, every error names the member.
type labelled struct {
	apiclient.Client
	m Member
}

func (l labelled) fail(err error) error {
	if err == nil {
		return nil
	}
	if p, ok := err.(*apiclient.PartialError); ok {
		named := &apiclient.PartialError{}
		for _, e := range p.Unanswered {
			named.Unanswered = append(named.Unanswered, fmt.Errorf("cluster %s: %w", l.m.Name, e))
		}
		return named
	}
	return fmt.Errorf("cluster %s: %w", l.m.Name, err)
}

func (l labelled) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, l.m.Timeout)
}

func (l labelled) Statuses(ctx context.Context) ([]*pb.Status, error) {
	ctx, cancel := l.call(ctx)
	defer cancel()
	out, err := l.Client.Statuses(ctx)
	for _, s := range out {
		s.Cluster = l.m.Name
	}
	return out, l.fail(err)
}

func (l labelled) Workloads(ctx context.Context, req *pb.ListWorkloadsRequest) ([]*pb.WorkloadFigures, error) {
	ctx, cancel := l.call(ctx)
	defer cancel()
	out, err := l.Client.Workloads(ctx, req)
	for _, w := range out {
		l.label(w.GetWorkload())
	}
	return out, l.fail(err)
}

// EncodedWorkloads implements apiclient.EncodedClient: the member's
// agents' answers as they came, each workload labelled at the wire level.
func (l labelled) EncodedWorkloads(ctx context.Context, req *pb.ListWorkloadsRequest) (encoded.Message, error) {
	ctx, cancel := l.call(ctx)
	defer cancel()
	parts, err := apiclient.EncodeWorkloads(ctx, l.Client, req)
	for i, p := range parts {
		var lerr error
		if parts[i], lerr = encoded.LabelWorkloads(p, l.m.Name); lerr != nil {
			return nil, l.fail(lerr)
		}
	}
	return parts, l.fail(err)
}

func (l labelled) Flows(ctx context.Context, req *pb.ListFlowsRequest) ([]*pb.Flow, error) {
	ctx, cancel := l.call(ctx)
	defer cancel()
	out, err := l.Client.Flows(ctx, req)
	for _, f := range out {
		l.label(f.GetWorkload())
	}
	return out, l.fail(err)
}

func (l labelled) DNS(ctx context.Context, req *pb.ListDNSRequest) ([]*pb.DNSQuery, error) {
	ctx, cancel := l.call(ctx)
	defer cancel()
	out, err := l.Client.DNS(ctx, req)
	for _, q := range out {
		l.label(q.GetWorkload())
	}
	return out, l.fail(err)
}

func (l labelled) Requests(ctx context.Context, req *pb.ListRequestsRequest) ([]*pb.Request, error) {
	ctx, cancel := l.call(ctx)
	defer cancel()
	out, err := l.Client.Requests(ctx, req)
	for _, r := range out {
		l.label(r.GetWorkload())
	}
	return out, l.fail(err)
}

func (l labelled) Processes(ctx context.Context, node, cgroup string) ([]*pb.Process, error) {
	ctx, cancel := l.call(ctx)
	defer cancel()
	out, err := l.Client.Processes(ctx, node, cgroup)
	return out, l.fail(err)
}

func (l labelled) GPUs(ctx context.Context) ([]*pb.GPU, error) {
	ctx, cancel := l.call(ctx)
	defer cancel()
	out, err := l.Client.GPUs(ctx)
	return out, l.fail(err)
}

// Watch streams until ctx ends: no per-call timeout.
func (l labelled) Watch(ctx context.Context, req *pb.WatchEventsRequest, fn func(*pb.WatchEventsResponse) error) error {
	return l.fail(l.Client.Watch(ctx, req, func(msg *pb.WatchEventsResponse) error {
		l.label(msg.GetEvent().GetWorkload())
		return fn(msg)
	}))
}

func (l labelled) label(w *pb.Workload) {
	if w != nil {
		w.Cluster = l.m.Name
	}
}

// unreachable is a member that could not be connected.
type unreachable struct{ err error }

func (u unreachable) Statuses(context.Context) ([]*pb.Status, error) { return nil, u.err }
func (u unreachable) Workloads(context.Context, *pb.ListWorkloadsRequest) ([]*pb.WorkloadFigures, error) {
	return nil, u.err
}
func (u unreachable) Flows(context.Context, *pb.ListFlowsRequest) ([]*pb.Flow, error) {
	return nil, u.err
}
func (u unreachable) DNS(context.Context, *pb.ListDNSRequest) ([]*pb.DNSQuery, error) {
	return nil, u.err
}
func (u unreachable) Requests(context.Context, *pb.ListRequestsRequest) ([]*pb.Request, error) {
	return nil, u.err
}
func (u unreachable) Processes(context.Context, string, string) ([]*pb.Process, error) {
	return nil, u.err
}
func (u unreachable) GPUs(context.Context) ([]*pb.GPU, error) { return nil, u.err }
func (u unreachable) Watch(context.Context, *pb.WatchEventsRequest, func(*pb.WatchEventsResponse) error) error {
	return u.err
}
func (u unreachable) Close() error { return nil }

// AuditTrail implements apiclient.TrailClient for members that reach agents.
func (l labelled) AuditTrail(ctx context.Context, req *pb.ListAuditTrailRequest) (*pb.ListAuditTrailResponse, error) {
	tc, ok := l.Client.(apiclient.TrailClient)
	if !ok {
		return nil, l.fail(fmt.Errorf("this member reaches no agent's audit trail"))
	}
	ctx, cancel := l.call(ctx)
	defer cancel()
	out, err := tc.AuditTrail(ctx, req)
	for _, r := range out.GetRecords() {
		l.label(r.GetWorkload())
	}
	return out, l.fail(err)
}
