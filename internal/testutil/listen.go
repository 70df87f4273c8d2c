package testutil

import (
	"io"
	"net"
	"testing"
)

// AcceptAll listens on a free TCP port of 127.0.0.1 and accepts and closes
// every connection until the test ends: a peer for connects to succeed.
func AcceptAll(t testing.TB) *net.TCPAddr {
	t.Helper()
	return accept(t, func(c net.Conn) { c.Close() })
}

// Sink listens on a free TCP port of 127.0.0.1 and reads every connection
// to its end until the test ends: a peer to send data to.
func Sink(t testing.TB) *net.TCPAddr {
	t.Helper()
	return accept(t, func(c net.Conn) {
		go func() {
			defer c.Close()
			io.Copy(io.Discard, c)
		}()
	})
}

func accept(t testing.TB, handle func(net.Conn)) *net.TCPAddr {
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
			handle(c)
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}
