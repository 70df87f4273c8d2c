package encoded

import (
	"context"

	"google.golang.org/grpc"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// WorkloadsServer is an agent API server that answers ListWorkloads with
// an encoded pb.ListWorkloadsResponse.
type WorkloadsServer interface {
	EncodedWorkloads(ctx context.Context, req *pb.ListWorkloadsRequest) (*Message, error)
}

// RegisterAgent registers svc as the agent API on s, as
// pb.RegisterAgentServer does, except that a svc that is a WorkloadsServer
// answers ListWorkloads encoded; s must then marshal with Codec
// (grpc.ForceServerCodecV2).
func RegisterAgent(s grpc.ServiceRegistrar, svc pb.AgentServer) {
	ws, ok := svc.(WorkloadsServer)
	if !ok {
		pb.RegisterAgentServer(s, svc)
		return
	}
	desc := pb.Agent_ServiceDesc
	desc.Methods = append([]grpc.MethodDesc(nil), desc.Methods...)
	for i, m := range desc.Methods {
		if m.MethodName == "ListWorkloads" {
			desc.Methods[i].Handler = workloadsHandler(ws)
		}
	}
	s.RegisterService(&desc, svc)
}

// workloadsHandler is the ListWorkloads handler of the generated code, with
// ws's answer.
func workloadsHandler(ws WorkloadsServer) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		in := new(pb.ListWorkloadsRequest)
		if err := dec(in); err != nil {
			return nil, err
		}
		handler := func(ctx context.Context, req any) (any, error) {
			return ws.EncodedWorkloads(ctx, req.(*pb.ListWorkloadsRequest))
		}
		if interceptor == nil {
			return handler(ctx, in)
		}
		return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: pb.Agent_ListWorkloads_FullMethodName}, handler)
	}
}
