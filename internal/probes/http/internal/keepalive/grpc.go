package keepalive

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// The gRPC tests run grpc-go's standard services: health for unary calls,
// OK for a service it serves and NOT_FOUND (5) for one it does not, and
// server reflection's bidirectional stream.

// ServedService is the service the health server says is serving.
const ServedService = "orb8.test"

// ServeGRPC serves health and reflection on l.
func ServeGRPC(l net.Listener, opts ...grpc.ServerOption) error {
	s := grpc.NewServer(opts...)
	hs := health.NewServer()
	hs.SetServingStatus(ServedService, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	reflection.Register(s)
	return s.Serve(l)
}

// RunGRPC makes over conn ok health checks of the served service (every
// fifth with 3000 bytes of metadata), missing of an unknown one (NOT_FOUND;
// every other with a 200 kB name), in the order of MissingAt, then streams
// bidirectional reflection calls that each list the services once. The
// first call carries traceparent, if given.
func RunGRPC(conn *grpc.ClientConn, ok, missing, streams int, traceparent ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(conn)
	for i := 0; ok+missing > 0; i++ {
		service, want, callCtx := ServedService, codes.OK, ctx
		if MissingAt(i, ok, missing) {
			service, want = "orb8.missing", codes.NotFound
			if missing%2 == 0 { // DATA frames over many segments, skipped in the kernel
				service += strings.Repeat("x", 200_000)
			}
			missing--
		} else {
			if ok%5 == 0 { // a header block over several of the kernel's records
				callCtx = metadata.AppendToOutgoingContext(ctx, "x-big", strings.Repeat("b", 3000))
			}
			ok--
		}
		if i == 0 && len(traceparent) > 0 {
			callCtx = metadata.AppendToOutgoingContext(callCtx, "traceparent", traceparent[0])
		}
		if _, err := hc.Check(callCtx, &healthpb.HealthCheckRequest{Service: service}); status.Code(err) != want {
			return fmt.Errorf("check %s: %v, want %v", service[:min(len(service), 20)], err, want)
		}
	}
	rc := reflectionpb.NewServerReflectionClient(conn)
	for range streams {
		if err := listServices(ctx, rc); err != nil {
			return err
		}
	}
	return nil
}

// listServices is one reflection stream: a request, its answer, the end.
func listServices(ctx context.Context, rc reflectionpb.ServerReflectionClient) error {
	st, err := rc.ServerReflectionInfo(ctx)
	if err != nil {
		return err
	}
	req := &reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}
	if err := st.Send(req); err != nil {
		return err
	}
	if _, err := st.Recv(); err != nil {
		return err
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	if _, err := st.Recv(); err != io.EOF {
		return fmt.Errorf("stream end: %v", err)
	}
	return nil
}
