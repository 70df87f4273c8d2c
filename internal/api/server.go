package api

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/server"
)

// Server is the gRPC listener, bound before Serve so a bad address fails at start.
type Server struct {
	ln  net.Listener
	srv *grpc.Server
}

// Listen binds addr (HOST:PORT, or unix:PATH for a socket) with optional TLS
// and mTLS from files, and prepares to serve svc.
func Listen(addr string, svc *Service, files server.TLSFiles) (*Server, error) {
	tlsCfg, err := files.Config()
	if err != nil {
		return nil, err
	}
	network, address := "tcp", addr
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, address = "unix", p
		_ = os.Remove(p) // a stale socket of an earlier run
	}
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, fmt.Errorf("API: listen on %s: %w", addr, err)
	}
	opts := []grpc.ServerOption{
		// Idle clients are probed so that dead ones release their stream.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if tlsCfg != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
	}
	srv := grpc.NewServer(opts...)
	pb.RegisterAgentServer(srv, svc)
	return &Server{ln: ln, srv: srv}, nil
}

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until Stop.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// Stop closes every connection: event streams never end on their own, so a
// graceful stop would wait for clients that may never leave.
func (s *Server) Stop() { s.srv.Stop() }
