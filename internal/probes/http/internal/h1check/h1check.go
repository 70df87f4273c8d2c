// Package h1check runs the HTTP probe's kernel head parser (h1_parse.bpf.h)
// on a buffer, through the kernel's test runs, so that tests can hold it to
// the Go parser. Tests only: the probe's object carries the parser itself.
package h1check

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
)

// Head is what the kernel's parser found in a buffer.
type Head struct {
	// Size is the head's bytes, its empty line included; 0 where it does
	// not end within the bytes parsed (or the parser left it to user space).
	Size int
	// Bad: no HTTP/1.x head. Punt: beyond what the kernel parses.
	Bad, Punt bool
	Request   bool
	Status    int
	Length    int64 // Content-Length, -1 without
	Chunked   bool
	Method    uint8 // the kernel's enum h1_method, 0 for others
}

var (
	once sync.Once
	objs h1checkObjects
	err  error
)

// ethernetHeader precedes the buffer in a test run: the kernel takes the
// first 14 bytes of the data as one and gives the program what follows.
const ethernetHeader = 14

// Parse runs the parser on b (as a packet's payload).
func Parse(b []byte) (Head, error) {
	once.Do(func() { err = loadH1checkObjects(&objs, nil) })
	if err != nil {
		return Head{}, fmt.Errorf("load the parser: %w", err)
	}
	zero := uint32(0)
	if err := objs.Found.Put(zero, h1checkH1Head{}); err != nil {
		return Head{}, err
	}
	data := append(make([]byte, ethernetHeader, ethernetHeader+len(b)), b...)
	if _, err := objs.Parse.Run(&ebpf.RunOptions{Data: data}); err != nil {
		return Head{}, err
	}
	var h h1checkH1Head
	if err := objs.Found.Lookup(zero, &h); err != nil {
		return Head{}, err
	}
	if h.N == 0 {
		return Head{}, errors.New("the parser did not run")
	}
	return Head{Size: int(h.Size), Bad: h.Bad != 0, Punt: h.Punt != 0, Request: h.Request != 0, Status: int(h.Status),
		Length: h.Length, Chunked: h.Chunked != 0, Method: uint8(h.Method)}, nil
}
