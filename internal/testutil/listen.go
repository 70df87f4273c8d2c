package testutil

import (
	"net"
	"testing"
)

// AcceptAll listens on a free TCP port of 127.0.0.1 and accepts and closes
// every connection until the test ends: a peer for connects to succeed.
func AcceptAll(t testing.TB) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}
