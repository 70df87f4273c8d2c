package http

import (
	"bufio"
	"bytes"
	nethttp "net/http"
	"testing"
)

func TestParseHead(t *testing.T) {
	for _, c := range []struct {
		in   string
		want head
		err  error
	}{
		{"GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\nrest", head{request: true, method: "GET", target: []byte("/a?b=c"), bodyLength: -1, size: 32}, nil},
		{"POST / HTTP/1.0\nContent-Length: 12\n\n", head{request: true, method: "POST", target: []byte("/"), bodyLength: 12, size: 36}, nil},
		{"PROPFIND /d HTTP/1.1\r\n\r\n", head{request: true, method: "OTHER", target: []byte("/d"), bodyLength: -1, size: 24}, nil},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", head{status: 200, bodyLength: -1, chunked: true, size: 53}, nil},
		{"HTTP/1.0 404\r\ncontent-length: 0\r\n\r\n", head{status: 404, bodyLength: 0, size: 35}, nil},
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", head{status: 200, bodyLength: 3}, errIncomplete},
		{"GET / HTTP/1.1", head{bodyLength: -1}, errIncomplete},
		{"HTTP/1.1 600 No\r\n\r\n", head{bodyLength: -1}, errMalformed},
		{"HTTP/2.0 200 OK\r\n\r\n", head{bodyLength: -1}, errMalformed},
		{"GET / HTTP/2\r\n\r\n", head{bodyLength: -1}, errMalformed},
		{"G(T / HTTP/1.1\r\n\r\n", head{bodyLength: -1}, errMalformed},
		{"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", head{request: true, method: "GET", target: []byte("/"), bodyLength: 1}, errMalformed},
		{"GET / HTTP/1.1\r\nno colon\r\n\r\n", head{request: true, method: "GET", target: []byte("/"), bodyLength: -1}, errMalformed},
	} {
		got, err := parseHead([]byte(c.in))
		if err != c.err || got.request != c.want.request || got.method != c.want.method || !bytes.Equal(got.target, c.want.target) ||
			got.status != c.want.status || got.bodyLength != c.want.bodyLength || got.chunked != c.want.chunked || got.size != c.want.size {
			t.Errorf("parseHead(%q) = %+v, %v; want %+v, %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestResponseBody(t *testing.T) {
	for _, c := range []struct {
		method string
		status int
		want   bool
	}{
		{"GET", 200, true}, {"HEAD", 200, false}, {"GET", 204, false}, {"GET", 304, false},
		{"GET", 101, false}, {"CONNECT", 200, false}, {"CONNECT", 407, true}, {"POST", 500, true},
	} {
		if got := responseBody(c.method, c.status); got != c.want {
			t.Errorf("responseBody(%s, %d) = %v, want %v", c.method, c.status, got, c.want)
		}
	}
}

// FuzzParseHead checks the parser against net/http's: a head the parser
// accepts in full, net/http reads too, with the same method or status and
// framing, and the parser never reads past its input nor panics.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.0 304 Not Modified\n\n",
		"DELETE /a HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHead(b)
		if err != nil {
			return
		}
		if h.size <= 0 || h.size > len(b) {
			t.Fatalf("size %d of %d bytes", h.size, len(b))
		}
		if !bytes.HasSuffix(b[:h.size], []byte("\n\n")) && !bytes.HasSuffix(b[:h.size], []byte("\n\r\n")) {
			t.Fatalf("head %q does not end with an empty line", b[:h.size])
		}
		r := bufio.NewReader(bytes.NewReader(b[:h.size]))
		if h.request {
			req, err := nethttp.ReadRequest(r)
			if err != nil {
				return // net/http is stricter (Host, target forms)
			}
			if methodLabel([]byte(req.Method)) != h.method {
				t.Fatalf("method %q, net/http %q", h.method, req.Method)
			}
			if !h.chunked && h.bodyLength >= 0 && req.ContentLength != h.bodyLength {
				t.Fatalf("length %d, net/http %d", h.bodyLength, req.ContentLength)
			}
			if v := req.Header.Values("Traceparent"); len(v) == 1 && v[0] != string(h.traceparent) {
				t.Fatalf("traceparent %q, net/http %q", h.traceparent, v[0])
			}
			return
		}
		resp, err := nethttp.ReadResponse(r, nil)
		if err != nil {
			return
		}
		if resp.StatusCode != h.status {
			t.Fatalf("status %d, net/http %d", h.status, resp.StatusCode)
		}
	})
}
