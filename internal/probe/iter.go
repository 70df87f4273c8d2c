package probe

import (
	"bytes"
	"fmt"
	"io"
	"unsafe"

	"github.com/cilium/ebpf/link"
)

// IterRecords runs a BPF iterator once and returns its output as records of
// type T, the Go twin of the struct the program writes with bpf_seq_write.
// The records live in buf, which the next call reuses: do not keep them.
func IterRecords[T any](it *link.Iter, buf *bytes.Buffer) ([]T, error) {
	rd, err := it.Open()
	if err != nil {
		return nil, fmt.Errorf("run iterator: %w", err)
	}
	defer rd.Close()
	return ReadRecords[T](rd, buf)
}

// ReadRecords reads an iterator's output from rd (an iterator instance's
// file) as IterRecords does.
func ReadRecords[T any](rd io.Reader, buf *bytes.Buffer) ([]T, error) {
	buf.Reset()
	buf.Grow(64 * 1024) // few reads: buf keeps its size from run to run
	if _, err := buf.ReadFrom(rd); err != nil {
		return nil, fmt.Errorf("read iterator: %w", err)
	}
	size := int(unsafe.Sizeof(*new(T)))
	b := buf.Bytes()
	if len(b)%size != 0 {
		return nil, fmt.Errorf("iterator output of %d bytes is not a whole number of %d-byte records", len(b), size)
	}
	if len(b) == 0 {
		return nil, nil
	}
	// A bytes.Buffer's memory is 8-byte aligned, as the records need.
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(b)/size), nil
}

// RunIter runs a BPF iterator once for what its program does, discarding
// any output.
func RunIter(it *link.Iter) error {
	rd, err := it.Open()
	if err != nil {
		return fmt.Errorf("run iterator: %w", err)
	}
	defer rd.Close()
	if _, err := io.Copy(io.Discard, rd); err != nil {
		return fmt.Errorf("read iterator: %w", err)
	}
	return nil
}
