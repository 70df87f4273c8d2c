package api

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/access"
	"github.com/orb8/orb8/internal/encoded"
	"github.com/orb8/orb8/internal/server"
)

// Server is the gRPC listener, bound before Serve so a bad address fails at start.
type Server struct {
	ln   net.Listener
	srv  *grpc.Server
	addr server.Address
}

// Per connection, as many concurrent calls as a busy CLI or hub makes; the
// node-wide stream limit is maxStreams. Requests are small: a filter and a
// few names. Connections are accepted at a bounded rate (a client that
// connects and hangs up in a loop costs the agent a transport setup each
// time), with small buffers (released while idle, grpc-go's default).
const (
	maxCallsPerConn = 100
	maxRequestBytes = 64 << 10
	connBufferBytes = 8 << 10
	acceptsPerSec   = 100
	acceptBurst     = 50
)

// ListenOption changes how Listen serves, in ways that cannot weaken
// its authentication or limits.
type ListenOption func(*listenConfig)

type listenConfig struct{ writeBuffer int }

// WriteBuffer sets the write buffer per client connection: a hub's
// answers are tens of MB.
func WriteBuffer(bytes int) ListenOption { return func(c *listenConfig) { c.writeBuffer = bytes } }

// Listen binds addr for svc (an agent's Service, or a hub). Callers of a unix socket (mode 0600, in a
// directory only its owner may enter) are root. A TCP address needs TLS, and
// its callers show a client certificate signed by files.ClientCA or a bearer
// token that d reviews; d then decides what each may see.
func Listen(addr server.Address, svc pb.AgentServer, files server.TLSFiles, d *access.Decider, options ...ListenOption) (*Server, error) {
	var ln net.Listener
	var err error
	cfg := listenConfig{writeBuffer: connBufferBytes}
	for _, o := range options {
		o(&cfg)
	}
	auth := authenticator{decider: d}
	opts := []grpc.ServerOption{
		// Idle clients are probed so that dead ones release their stream.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.MaxConcurrentStreams(maxCallsPerConn),
		grpc.MaxRecvMsgSize(maxRequestBytes),
		grpc.ReadBufferSize(connBufferBytes),
		grpc.WriteBufferSize(cfg.writeBuffer),
		// Answers a service passes on already encoded (a hub's) go out
		// as they are; every other message as the proto codec has it.
		grpc.ForceServerCodecV2(encoded.Codec{}),
	}
	if addr.Local() {
		auth.local = true
		ln, err = listenUnix(addr.Addr)
	} else {
		if files.Cert == "" {
			return nil, fmt.Errorf("API: %s is a TCP address: it needs TLS (--tls-cert, --tls-key); without them use a unix:/// address", addr)
		}
		files.ClientAuth = tls.VerifyClientCertIfGiven // certificates are one way to authenticate, tokens another
		var tlsCfg *tls.Config
		if tlsCfg, err = files.Config(); err != nil {
			return nil, err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)))
		ln, err = net.Listen("tcp", addr.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("API: listen on %s: %w", addr, err)
	}
	opts = append(opts, grpc.ChainUnaryInterceptor(auth.unary), grpc.ChainStreamInterceptor(auth.stream))
	srv := grpc.NewServer(opts...)
	encoded.RegisterAgent(srv, svc)
	return &Server{ln: &paced{Listener: ln, every: time.Second / acceptsPerSec, tokens: acceptBurst}, srv: srv, addr: addr}, nil
}

// listenUnix binds a socket that only this process's user can use: the
// socket is made 0600, and each connection's peer credentials are checked
// as well, since a client that connected before the chmod (a umask of 0)
// keeps its connection.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	// A socket left by an earlier run is replaced; one that answers belongs
	// to an agent that runs, and is not taken from it.
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("another process serves %s: is an agent already running?", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ownerOnly{ln.(*net.UnixListener), uint32(os.Geteuid())}, nil
}

// paced accepts at most one connection per every, after a burst of tokens;
// the rest wait in the kernel's backlog.
type paced struct {
	net.Listener
	every  time.Duration
	tokens int
	last   time.Time
}

func (l *paced) Accept() (net.Conn, error) {
	now := time.Now()
	if l.tokens += int(now.Sub(l.last) / l.every); l.tokens > acceptBurst {
		l.tokens = acceptBurst
	}
	l.last = now
	if l.tokens == 0 {
		time.Sleep(l.every)
		l.last = time.Now()
	} else {
		l.tokens--
	}
	return l.Listener.Accept()
}

// ownerOnly accepts connections of one user only (SO_PEERCRED).
type ownerOnly struct {
	*net.UnixListener
	uid uint32
}

func (l ownerOnly) Accept() (net.Conn, error) {
	for {
		c, err := l.UnixListener.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if uid, ok := peerUID(c); ok && (uid == l.uid || uid == 0) {
			return c, nil
		}
		c.Close()
	}
}

func peerUID(c *net.UnixConn) (uint32, bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) { cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil || credErr != nil {
		return 0, false
	}
	return cred.Uid, true
}

// Addr is the bound address as clients dial it (the port chosen for port 0).
func (s *Server) Addr() server.Address {
	if s.addr.Local() {
		return s.addr
	}
	return server.Address{Network: "tcp", Addr: s.ln.Addr().String()}
}

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
