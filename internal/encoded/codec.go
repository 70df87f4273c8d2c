// Package encoded carries answers of the agent API in protobuf's wire form,
// so that a hub passes its members' answers on without decoding and
// encoding them again: a codec that keeps and sends such answers as bytes,
// the agent service that lets a server answer ListWorkloads so, and the
// wire-level rewriting that labels each record with its fleet member.
package encoded

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"

	// The proto codec, which Codec hands every other message to.
	_ "google.golang.org/grpc/encoding/proto"
)

// Message is a message in protobuf's wire form, in parts that concatenate
// to it. Concatenated messages of one type merge into one, whose repeated
// fields are the parts' in turn, so an answer is the list of its parts.
type Message [][]byte

// Codec is gRPC's proto codec, except for *Message: marshalled, its parts
// are sent as they are; unmarshalled into, it keeps the bytes received.
type Codec struct{}

var protoCodec = encoding.GetCodecV2("proto")

// Marshal implements encoding.CodecV2.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*Message)
	if !ok {
		return protoCodec.Marshal(v)
	}
	if m == nil { // an empty answer
		return nil, nil
	}
	out := make(mem.BufferSlice, 0, len(*m))
	for _, p := range *m {
		if len(p) > 0 {
			out = append(out, mem.SliceBuffer(p))
		}
	}
	return out, nil
}

// Unmarshal implements encoding.CodecV2.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*Message)
	if !ok {
		return protoCodec.Unmarshal(data, v)
	}
	if m == nil {
		return fmt.Errorf("unmarshal into a nil *encoded.Message")
	}
	*m = Message{data.Materialize()}
	return nil
}

// Name implements encoding.CodecV2: the proto codec's, as what travels is
// protobuf.
func (Codec) Name() string { return protoCodec.Name() }
