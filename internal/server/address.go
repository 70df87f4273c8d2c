package server

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
)

// Address is a listener's or a client's address: a TCP host:port, or a
// unix socket's path.
type Address struct {
	Network string // "tcp" or "unix"
	Addr    string // host:port, or the socket's absolute path
}

// ParseAddress reads HOST:PORT, unix:///PATH or unix:PATH (an absolute path);
// the error says what was expected.
func ParseAddress(s string) (Address, error) {
	if rest, ok := strings.CutPrefix(s, "unix:"); ok {
		path := strings.TrimPrefix(rest, "//")
		if !filepath.IsAbs(path) || filepath.Clean(path) != path {
			return Address{}, fmt.Errorf("%q: want unix:///ABSOLUTE/PATH", s)
		}
		return Address{"unix", path}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || port == "" {
		return Address{}, fmt.Errorf("%q: want HOST:PORT or unix:///PATH", s)
	}
	if strings.ContainsAny(host, "/ ") {
		return Address{}, fmt.Errorf("%q: bad host %q", s, host)
	}
	return Address{"tcp", s}, nil
}

// String is the address as flags take it.
func (a Address) String() string {
	if a.Network == "unix" {
		return "unix://" + a.Addr
	}
	return a.Addr
}

// Local reports whether only this host can reach the address: a unix socket.
func (a Address) Local() bool { return a.Network == "unix" }
