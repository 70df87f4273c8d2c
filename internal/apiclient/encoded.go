package apiclient

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/encoded"
)

// EncodedClient answers ListWorkloads in protobuf's wire form: a hub passes
// the answers on as they are, instead of decoding and encoding them again.
type EncodedClient interface {
	// EncodedWorkloads is Workloads' answer as encoded
	// pb.ListWorkloadsResponse parts, whose concatenation is the answer
	// (with no limit applied across them).
	EncodedWorkloads(ctx context.Context, req *pb.ListWorkloadsRequest) (encoded.Message, error)
}

var workloadsAnswer = (&pb.ListWorkloadsResponse{}).ProtoReflect().Descriptor()

// EncodedWorkloads implements EncodedClient: the agent's answer as it came,
// checked to decode.
func (a *Agent) EncodedWorkloads(ctx context.Context, req *pb.ListWorkloadsRequest) (encoded.Message, error) {
	var (
		tr   metadata.MD
		resp encoded.Message
	)
	err := a.conn.Invoke(ctx, pb.Agent_ListWorkloads_FullMethodName, req, &resp, grpc.ForceCodecV2(encoded.Codec{}), grpc.Trailer(&tr))
	if err != nil {
		return nil, a.wrap(err)
	}
	for _, p := range resp {
		if err := encoded.Validate(workloadsAnswer, p); err != nil {
			return nil, fmt.Errorf("agent %s: a malformed answer: %w", a.addr, err)
		}
	}
	return resp, unanswered(tr)
}

// EncodedWorkloads implements EncodedClient: the members' parts in turn.
func (m *Multi) EncodedWorkloads(ctx context.Context, req *pb.ListWorkloadsRequest) (encoded.Message, error) {
	parts, err := gatherAll(m, func(c Client) (encoded.Message, error) { return EncodeWorkloads(ctx, c, req) })
	var out encoded.Message
	for _, p := range parts {
		out = append(out, p...)
	}
	return out, err
}

// EncodeWorkloads asks c for req's workloads in wire form: as they come
// from an EncodedClient, else decoded and encoded again.
func EncodeWorkloads(ctx context.Context, c Client, req *pb.ListWorkloadsRequest) (encoded.Message, error) {
	if ec, ok := c.(EncodedClient); ok {
		return ec.EncodedWorkloads(ctx, req)
	}
	ws, err := c.Workloads(ctx, req)
	if len(ws) == 0 {
		return nil, err
	}
	b, merr := proto.Marshal(&pb.ListWorkloadsResponse{Workloads: ws})
	if merr != nil {
		return nil, merr
	}
	return encoded.Message{b}, err
}
