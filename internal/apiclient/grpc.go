package apiclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/humanize"
)

// maxMessage is the largest answer accepted: thousands of workloads fit.
const maxMessage = 64 << 20

// HTTP/2 flow-control windows (per call and per connection): how much of
// an answer a server may send before this client has read it. Set, they
// also turn off grpc-go's window estimate, whose pings cost a hub one per
// member's answer.
const (
	// answerWindow: a hub's answer of a whole fleet, tens of MB, comes in
	// without waiting for window updates.
	answerWindow = 16 << 20
	// fanOutWindow: one of many agents (a hub's members, --all-nodes),
	// whose answers are small: a stream whose reader stalls (a paused
	// watch) holds at most this much per agent.
	fanOutWindow = 64 << 10
)

// TLS says how to reach an agent at a TCP address, whose API serves TLS
// (verified with the system's roots unless CA is given); a unix socket is
// plain text.
type TLS struct {
	CA         string // PEM bundle that signed the agent's certificate
	Cert, Key  string // client certificate, to authenticate with it
	ServerName string // name to verify instead of the address's host
	// Token is a Kubernetes bearer token to authenticate with.
	Token string
}

func (t TLS) enabled() bool { return t.CA != "" || t.Cert != "" || t.ServerName != "" || t.Token != "" }

func (t TLS) config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("read --tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s holds no PEM certificate", t.CA)
		}
	}
	if (t.Cert == "") != (t.Key == "") {
		return nil, errors.New("--tls-cert and --tls-key go together: set both or neither")
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("load client key pair: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Agent is a Client of one agent over gRPC.
type Agent struct {
	addr string
	conn *grpc.ClientConn
	api  pb.AgentClient
}

// Dial connects to the agent or hub at addr (HOST:PORT, unix:///PATH) and
// checks, within timeout, that it answers: a wrong address fails here, at
// once.
func Dial(ctx context.Context, addr string, t TLS, timeout time.Duration) (*Agent, error) {
	return dialAddr(ctx, addr, t, timeout, answerWindow)
}

// DialMember is Dial for one of many agents, a hub's member.
func DialMember(ctx context.Context, addr string, t TLS, timeout time.Duration) (*Agent, error) {
	return dialAddr(ctx, addr, t, timeout, fanOutWindow)
}

func dialAddr(ctx context.Context, addr string, t TLS, timeout time.Duration, window int32) (*Agent, error) {
	var cfg *tls.Config
	// A TCP API always speaks TLS; a unix socket never does.
	if t.enabled() || !strings.HasPrefix(addr, "unix:") {
		var err error
		if cfg, err = t.config(); err != nil {
			return nil, err
		}
	}
	return dial(ctx, addr, addr, cfg, t.Token, timeout, window)
}

// dial connects to target (named name in errors) with TLS cfg (nil: plain
// text), a bearer token (empty: none; it travels only over TLS) and a
// flow-control window.
func dial(ctx context.Context, name, addr string, cfg *tls.Config, token string, timeout time.Duration, window int32) (*Agent, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage)),
		grpc.WithInitialWindowSize(window),
		grpc.WithInitialConnWindowSize(window),
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: timeout}),
	}
	if cfg != nil {
		opts[0] = grpc.WithTransportCredentials(credentials.NewTLS(cfg))
		if token != "" {
			opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
		}
	} else if token != "" {
		return nil, fmt.Errorf("agent %s: a bearer token is sent only over TLS", name)
	}
	conn, err := grpc.NewClient(target(addr), opts...)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %s", addr, humanize.OneLine(err.Error()))
	}
	a := &Agent{addr: name, conn: conn, api: pb.NewAgentClient(conn)}
	pingCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := a.api.GetStatus(pingCtx, &pb.GetStatusRequest{}); err != nil {
		conn.Close()
		return nil, a.wrap(err)
	}
	return a, nil
}

// deniedError is an agent's refusal to show what its caller may not see.
type deniedError struct{ msg string }

func (e *deniedError) Error() string { return e.msg }

// IsDenied reports whether err is an agent's refusal (PermissionDenied):
// its caller may not see what it asked for.
func IsDenied(err error) bool { return isDenied(err) }

// bearer sends a Kubernetes bearer token with every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return true }

func target(addr string) string {
	if strings.HasPrefix(addr, "unix:") {
		return addr
	}
	return "passthrough:///" + addr
}

// wrap turns a gRPC error into one line that names the agent and the cause.
func (a *Agent) wrap(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("agent %s: %s", a.addr, humanize.OneLine(err.Error()))
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		// "connection error: desc = \"transport: Error while dialing: dial tcp ...: connection refused\""
		if _, cause, ok := strings.Cut(msg, "Error while dialing: "); ok {
			msg = strings.TrimSuffix(cause, `"`)
		}
		return fmt.Errorf("cannot reach the orb8 agent at %s: %s (is 'orb8 agent' running there, with --api-addr?)", a.addr, humanize.OneLine(msg))
	case codes.DeadlineExceeded:
		return fmt.Errorf("the orb8 agent at %s did not answer in time", a.addr)
	case codes.PermissionDenied:
		return &deniedError{fmt.Sprintf("agent %s: %s", a.addr, humanize.OneLine(msg))}
	}
	return fmt.Errorf("agent %s: %s", a.addr, humanize.OneLine(msg))
}

// result is a unary call's error: the call's own, else the agents a hub
// could not reach for it.
func (a *Agent) result(err error, tr metadata.MD) error {
	if err != nil {
		return a.wrap(err)
	}
	return unanswered(tr)
}

// Statuses implements Client.
func (a *Agent) Statuses(ctx context.Context) ([]*pb.Status, error) {
	st, err := a.Status(ctx)
	if st == nil {
		return nil, err
	}
	if len(st.GetAgents()) > 0 { // a hub's
		return st.GetAgents(), err
	}
	return []*pb.Status{st}, err
}

// Status is the answer of GetStatus as is: a hub's own status, with its
// agents' and its address index. A partial answer comes with a
// *PartialError naming the agents that did not answer.
func (a *Agent) Status(ctx context.Context) (*pb.Status, error) {
	var tr metadata.MD
	st, err := a.api.GetStatus(ctx, &pb.GetStatusRequest{}, grpc.Trailer(&tr))
	if err != nil {
		return nil, a.wrap(err)
	}
	return st, unanswered(tr)
}

// Workloads implements Client.
func (a *Agent) Workloads(ctx context.Context, req *pb.ListWorkloadsRequest) ([]*pb.WorkloadFigures, error) {
	var tr metadata.MD
	resp, err := a.api.ListWorkloads(ctx, req, grpc.Trailer(&tr))
	return resp.GetWorkloads(), a.result(err, tr)
}

// Flows implements Client.
func (a *Agent) Flows(ctx context.Context, req *pb.ListFlowsRequest) ([]*pb.Flow, error) {
	var tr metadata.MD
	resp, err := a.api.ListFlows(ctx, req, grpc.Trailer(&tr))
	return resp.GetFlows(), a.result(err, tr)
}

// DNS implements Client.
func (a *Agent) DNS(ctx context.Context, req *pb.ListDNSRequest) ([]*pb.DNSQuery, error) {
	var tr metadata.MD
	resp, err := a.api.ListDNS(ctx, req, grpc.Trailer(&tr))
	return resp.GetQueries(), a.result(err, tr)
}

// Requests implements Client.
func (a *Agent) Requests(ctx context.Context, req *pb.ListRequestsRequest) ([]*pb.Request, error) {
	var tr metadata.MD
	resp, err := a.api.ListRequests(ctx, req, grpc.Trailer(&tr))
	return resp.GetRequests(), a.result(err, tr)
}

// Processes implements Client.
func (a *Agent) Processes(ctx context.Context, _ string, cgroup string) ([]*pb.Process, error) {
	var tr metadata.MD
	resp, err := a.api.ListProcesses(ctx, &pb.ListProcessesRequest{Cgroup: cgroup}, grpc.Trailer(&tr))
	return resp.GetProcesses(), a.result(err, tr)
}

// GPUs implements Client.
func (a *Agent) GPUs(ctx context.Context) ([]*pb.GPU, error) {
	var tr metadata.MD
	resp, err := a.api.ListGPUs(ctx, &pb.ListGPUsRequest{}, grpc.Trailer(&tr))
	return resp.GetGpus(), a.result(err, tr)
}

// Watch implements Client. It asks for batched messages and hands fn one
// event at a time, so callers see the same messages from agents of any
// version (one that does not batch sends single events).
func (a *Agent) Watch(ctx context.Context, req *pb.WatchEventsRequest, fn func(*pb.WatchEventsResponse) error) error {
	st, err := a.api.WatchEvents(ctx, &pb.WatchEventsRequest{Kinds: req.GetKinds(), Filter: req.GetFilter(), Batch: true})
	if err != nil {
		return a.wrap(err)
	}
	for {
		msg, err := st.Recv()
		if err == io.EOF || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return a.wrap(err)
		}
		if err := eachMessage(msg, fn); err != nil {
			return err
		}
	}
}

// eachMessage calls fn for msg, or for each event of a batch in turn.
func eachMessage(msg *pb.WatchEventsResponse, fn func(*pb.WatchEventsResponse) error) error {
	b := msg.GetBatch()
	if b == nil {
		return fn(msg)
	}
	for _, e := range b.GetEvents() {
		if err := fn(&pb.WatchEventsResponse{Item: &pb.WatchEventsResponse_Event{Event: e}}); err != nil {
			return err
		}
	}
	return nil
}

// Close implements Client.
func (a *Agent) Close() error { return a.conn.Close() }
