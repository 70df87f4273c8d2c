package probe

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"golang.org/x/sys/unix"
)

// eagainReader gives its chunks one read each, each but the last followed
// by a read that fails with EAGAIN, as an iterator's read does when it
// visited a million objects without output.
type eagainReader struct {
	chunks [][]byte
	again  bool
}

func (r *eagainReader) Read(p []byte) (int, error) {
	if r.again {
		r.again = false
		return 0, unix.EAGAIN
	}
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	r.chunks = r.chunks[1:]
	r.again = len(r.chunks) > 0
	return n, nil
}

func TestReadAllGoesOnAfterEAGAIN(t *testing.T) {
	var buf bytes.Buffer
	rd := &eagainReader{chunks: [][]byte{[]byte("ab"), []byte("cd"), []byte("ef")}}
	if err := readAll(rd, &buf); err != nil || buf.String() != "abcdef" {
		t.Fatalf("read %q, err %v; want abcdef, nil", buf.String(), err)
	}
	failing := errors.New("broken")
	if err := readAll(io.MultiReader(bytes.NewReader([]byte("x")), iotest.ErrReader(failing)), io.Discard); !errors.Is(err, failing) {
		t.Fatalf("err %v, want %v", err, failing)
	}
}
