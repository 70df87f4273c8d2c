package encoded

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// TestCodec: a Message's parts go out as they are, a nil one as nothing;
// received into a Message the bytes are kept; other messages are protobuf.
func TestCodec(t *testing.T) {
	var c Codec
	out, err := c.Marshal(&Message{[]byte("ab"), nil, []byte("cd")})
	if err != nil || !bytes.Equal(out.Materialize(), []byte("abcd")) {
		t.Fatalf("parts: %q, %v", out.Materialize(), err)
	}
	if out, err := c.Marshal((*Message)(nil)); err != nil || out.Len() != 0 {
		t.Fatalf("nil: %d bytes, %v", out.Len(), err)
	}
	var got Message
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer("xyz")}, &got); err != nil || len(got) != 1 || string(got[0]) != "xyz" {
		t.Fatalf("kept %q, %v", got, err)
	}
	req := &pb.ListWorkloadsRequest{Limit: 7}
	enc, err := c.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var back pb.ListWorkloadsRequest
	if err := c.Unmarshal(enc, &back); err != nil || !proto.Equal(req, &back) {
		t.Fatalf("protobuf round trip: %v, %v", &back, err)
	}
}
