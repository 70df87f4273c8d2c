package keepalive

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Requests with gRPC's content type to a plain HTTP/2 server whose
// responses end without trailers: on the END_STREAM of a DATA frame (200,
// a body over several frames), of HEADERS (404, no body), or after a 503's
// body; Slow answers after EndSlowAfter.
const (
	EndPrefix    = "/orb8.NoTrailers/"
	EndSlowAfter = 2500 * time.Millisecond
)

// EndStatus is the status EndHandler answers each of its paths with.
var EndStatus = map[string]int{EndPrefix + "Body": 200, EndPrefix + "Unavailable": 503, EndPrefix + "Empty": 404, EndPrefix + "Slow": 200}

// EndHandler answers the paths of EndStatus, without trailers.
var EndHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	switch r.URL.Path {
	case EndPrefix + "Body":
		w.Header().Set("content-type", "application/grpc")
		io.WriteString(w, strings.Repeat("d", 40_000))
	case EndPrefix + "Unavailable":
		w.Header().Set("content-type", "text/plain")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "unavailable\n")
	case EndPrefix + "Slow":
		time.Sleep(EndSlowAfter)
		w.Header().Set("content-type", "application/grpc")
	default:
		w.WriteHeader(http.StatusNotFound)
	}
})

// RunEnd sends POSTs with gRPC's content type to base through c, one at a
// time over HTTP/2; pathCounts are path and count pairs, in order. It
// fails unless each got its EndStatus.
func RunEnd(c *http.Client, base string, pathCounts []string) error {
	if len(pathCounts) == 0 || len(pathCounts)%2 != 0 {
		return fmt.Errorf("want path and count pairs, got %q", pathCounts)
	}
	for i := 0; i < len(pathCounts); i += 2 {
		path := pathCounts[i]
		n, _ := strconv.Atoi(pathCounts[i+1])
		for range n {
			req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader("\x00\x00\x00\x00\x00"))
			if err != nil {
				return err
			}
			req.Header.Set("content-type", "application/grpc")
			resp, err := Fetch(c, req)
			if err != nil {
				return err
			}
			if resp.StatusCode != EndStatus[path] || resp.ProtoMajor != 2 {
				return fmt.Errorf("%s: %s %d, want HTTP/2 %d", path, resp.Proto, resp.StatusCode, EndStatus[path])
			}
		}
	}
	return nil
}
