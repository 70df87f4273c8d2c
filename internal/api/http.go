package api

import (
	"context"
	"net/http"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// JSONHandler serves the API's queries as JSON (protojson of the same
// messages) under /api/v1/, for clients that reach the agent through the
// Kubernetes API server's pod proxy, which does not carry gRPC:
//
//	/api/v1/status
//	/api/v1/workloads?namespace=&pod=&selector=&cgroup=&limit=
//	/api/v1/flows?...&protocol=tcp|udp
//	/api/v1/dns?...&errors=true&name=
//	/api/v1/processes?cgroup=
//	/api/v1/gpus
//	/api/v1/events?kind=exec&kind=exit&namespace=...  (one JSON object per line, streamed)
func (s *Service) JSONHandler() http.Handler {
	mux := http.NewServeMux()
	handle := func(path string, call func(context.Context, *http.Request) (proto.Message, error)) {
		mux.HandleFunc("GET /api/v1/"+path, func(w http.ResponseWriter, r *http.Request) {
			msg, err := call(r.Context(), r)
			if err != nil {
				writeError(w, err)
				return
			}
			data, err := protojson.Marshal(msg)
			if err != nil {
				writeError(w, err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(append(data, '\n'))
		})
	}
	handle("status", func(ctx context.Context, _ *http.Request) (proto.Message, error) {
		return s.GetStatus(ctx, &pb.GetStatusRequest{})
	})
	handle("workloads", func(ctx context.Context, r *http.Request) (proto.Message, error) {
		n, err := queryLimit(r)
		if err != nil {
			return nil, err
		}
		return s.ListWorkloads(ctx, &pb.ListWorkloadsRequest{Filter: queryFilter(r), Limit: n})
	})
	handle("flows", func(ctx context.Context, r *http.Request) (proto.Message, error) {
		n, err := queryLimit(r)
		if err != nil {
			return nil, err
		}
		return s.ListFlows(ctx, &pb.ListFlowsRequest{Filter: queryFilter(r), Protocol: r.FormValue("protocol"), Limit: n})
	})
	handle("dns", func(ctx context.Context, r *http.Request) (proto.Message, error) {
		n, err := queryLimit(r)
		if err != nil {
			return nil, err
		}
		return s.ListDNS(ctx, &pb.ListDNSRequest{
			Filter: queryFilter(r), ErrorsOnly: r.FormValue("errors") == "true", Name: r.FormValue("name"), Limit: n,
		})
	})
	handle("processes", func(ctx context.Context, r *http.Request) (proto.Message, error) {
		return s.ListProcesses(ctx, &pb.ListProcessesRequest{Cgroup: r.FormValue("cgroup")})
	})
	handle("gpus", func(ctx context.Context, _ *http.Request) (proto.Message, error) {
		return s.ListGPUs(ctx, &pb.ListGPUsRequest{})
	})
	mux.HandleFunc("GET /api/v1/events", s.serveEvents)
	return mux
}

// serveEvents streams WatchEvents as newline-delimited JSON, flushed per event.
func (s *Service) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, status.Error(codes.InvalidArgument, err.Error()))
		return
	}
	req := &pb.WatchEventsRequest{Kinds: r.Form["kind"], Filter: queryFilter(r)}
	if _, err := s.filter(req.Filter); err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	_ = s.watch(r.Context(), req, func(msg *pb.WatchEventsResponse) error {
		data, err := protojson.Marshal(msg)
		if err != nil {
			return err
		}
		if _, err := w.Write(append(data, '\n')); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	})
}

func queryFilter(r *http.Request) *pb.WorkloadFilter {
	return &pb.WorkloadFilter{
		Namespace: r.FormValue("namespace"), Pod: r.FormValue("pod"),
		Selector: r.FormValue("selector"), Cgroup: r.FormValue("cgroup"),
	}
}

func queryLimit(r *http.Request) (uint32, error) {
	v := r.FormValue("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, status.Errorf(codes.InvalidArgument, "limit %q: want a number", v)
	}
	return uint32(n), nil
}

// writeError answers with the gRPC status message and a matching HTTP code.
func writeError(w http.ResponseWriter, err error) {
	st := status.Convert(err)
	code := http.StatusInternalServerError
	switch st.Code() {
	case codes.InvalidArgument:
		code = http.StatusBadRequest
	case codes.NotFound:
		code = http.StatusNotFound
	case codes.Unavailable:
		code = http.StatusServiceUnavailable
	}
	http.Error(w, st.Message(), code)
}
