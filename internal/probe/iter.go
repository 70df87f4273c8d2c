package probe

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unsafe"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
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
	if err := readAll(rd, buf); err != nil {
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
	if err := readAll(rd, io.Discard); err != nil {
		return fmt.Errorf("read iterator: %w", err)
	}
	return nil
}

// readAll copies an iterator's output to w. A read that visits a million
// objects without output (a walk of many memory mappings, most of them not
// wanted) ends with EAGAIN where it stopped: the next read goes on from
// there.
func readAll(rd io.Reader, w io.Writer) error {
	for {
		_, err := io.Copy(w, rd)
		if !errors.Is(err, unix.EAGAIN) {
			return err
		}
	}
}
