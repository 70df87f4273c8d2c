// Package keepalive is the HTTP/1.1 server handler and keep-alive client,
// and the gRPC server and client (grpc.go),
// that the http probe's tests run, from the test binary (plaintext) and
// from testdata/gotls (Go's crypto/tls), for exact counts to compare.
package keepalive

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
)

// QuerySuffix is the query string of every request the client sends.
const QuerySuffix = "?token=secret"

// NotFoundBody starts like a request line: a probe that took it for one
// would count a request that has no response.
const NotFoundBody = "GET /not-a-request HTTP/1.1\r\n\r\n"

// MissingAt says whether the client's request i (from 0) goes to the
// missing path, while missing such requests are left and ok others.
func MissingAt(i, ok, missing int) bool { return missing > 0 && (i%3 == 2 || ok == 0) }

// Handler answers /ok with 200, anything else with 404 and NotFoundBody.
var Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	if r.URL.Path == "/ok" {
		io.WriteString(w, "ok\n")
		return
	}
	w.WriteHeader(http.StatusNotFound)
	io.WriteString(w, NotFoundBody)
})

// Fetch sends req and reads its response's body to the end.
func Fetch(c *http.Client, req *http.Request) (*http.Response, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}

// Run sends ok requests to base/ok and missing ones to base/missing
// through transport, each waiting for its response, every third one to the
// missing path while any are left (MissingAt), those with missingMethod and,
// for a POST, a body that starts like a request line (NotFoundBody). Every
// request carries QuerySuffix. It fails unless all went over one connection
// with the statuses expected.
func Run(transport *http.Transport, base string, ok, missing int, missingMethod string) error {
	var dials atomic.Int32
	dialer := &net.Dialer{}
	transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return dialer.DialContext(ctx, network, addr)
	}
	c := &http.Client{Transport: transport}
	for i := 0; ok+missing > 0; i++ {
		path, method, want, body := "/ok", http.MethodGet, http.StatusOK, io.Reader(nil)
		if MissingAt(i, ok, missing) {
			path, method, want = "/missing", missingMethod, http.StatusNotFound
			if method == http.MethodPost {
				body = strings.NewReader(NotFoundBody)
			}
			missing--
		} else {
			ok--
		}
		req, err := http.NewRequest(method, base+path+QuerySuffix, body)
		if err != nil {
			return err
		}
		resp, err := Fetch(c, req)
		if err != nil {
			return err
		}
		if resp.StatusCode != want {
			return fmt.Errorf("%s %s: status %d, want %d", method, path, resp.StatusCode, want)
		}
	}
	if n := dials.Load(); n != 1 {
		return fmt.Errorf("%d connections, want 1 (keep-alive)", n)
	}
	return nil
}
