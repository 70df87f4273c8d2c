// Package server serves the agent's HTTP endpoints, with optional TLS and mTLS.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is an HTTP listener that is bound before Serve, so a bad address
// fails at start, not later.
type Server struct {
	ln  net.Listener
	srv *http.Server
}

// Listen binds addr and prepares to serve h.
func Listen(addr string, h http.Handler, files TLSFiles) (*Server, error) {
	tlsCfg, err := files.Config()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	// Shutdown waits for requests in flight: they live in a context that
	// Shutdown cancels. Every phase of a request is bounded, so a client
	// that stalls holds a connection for seconds, not forever; a scrape of
	// 10,000 workloads takes well under a second to write.
	base, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		BaseContext: func(net.Listener) context.Context { return base },
	}
	srv.RegisterOnShutdown(cancel)
	return &Server{ln: ln, srv: srv}, nil
}

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until Shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting, ends streamed answers and waits for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
