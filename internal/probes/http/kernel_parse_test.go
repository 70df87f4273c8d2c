package http

import (
	"strings"
	"testing"

	"github.com/orb8/orb8/internal/probes/http/internal/h1check"
	"github.com/orb8/orb8/internal/testutil"
)

// kernelParseSeeds are heads at the edges of parse.go's rules.
var kernelParseSeeds = []string{
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a b HTTP/1.1\r\n\r\n",
	"GET  HTTP/1.1\r\n\r\n",
	"GET / HTTP/1.x\r\n\r\n",
	"GET / HTTP/1.1\n\n",
	"GET / HTTP/1.1\r\n\n",
	"GET / HTTP/1.1\r\r\n\r\n",
	"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
	"POST /x HTTP/1.1\r\ncontent-length:5 \t\r\n\r\n",
	"POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
	"POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	"POST /x HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
	"POST /x HTTP/1.1\r\nContent-Length: \r\n\r\n",
	"POST /x HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n",
	"POST /x HTTP/1.1\r\nContent-Length:      5\r\n\r\n",
	"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
	"PUT /x HTTP/1.1\r\ntransfer-encoding: gzip, CHUNKED \r\n\r\n",
	"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
	"PUT /x HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n",
	"PUT /x HTTP/1.1\r\nTransfer-Encoding: x chunked\r\n\r\n",
	"PUT /x HTTP/1.1\r\nTransfer-Encoding: ,  chunked\r\n\r\n",
	"PUT /x HTTP/1.1\r\nTransfer-Encoding: chun\xe2\x84\xaaed\r\n\r\n",
	"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
	"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
	"GET / HTTP/1.1\r\nBad(Name: x\r\n\r\n",
	"GET / HTTP/1.1\r\n: x\r\n\r\n",
	"GET / HTTP/1.1\r\nno colon\r\n\r\n",
	"GET / HTTP/1.1\r\nX-" + strings.Repeat("a", 60) + ": y\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200\r\n\r\n",
	"HTTP/1.1 200OK\r\n\r\n",
	"HTTP/1.1 099 x\r\n\r\n",
	"HTTP/1.1 600 x\r\n\r\n",
	"HTTP/1.0 404 Not Found\nContent-Length: 0\n\n",
	"HTTP/1.1 204 No Content\r\nDate: Sat, 05 Dec 2026 22:33:18 GMT\r\nServer: x\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("v", 300) + "\r\n\r\n",
	"DELETE /x HTTP/1.1\r\n\r\n", "OPTIONS * HTTP/1.1\r\n\r\n", "PATCH /p HTTP/1.0\r\n\r\n",
	"CONNECT a:443 HTTP/1.1\r\n\r\n", "TRACE / HTTP/1.1\r\n\r\n", "HEAD / HTTP/1.1\r\n\r\n",
}

// kernelParse runs the kernel's parser on b, skipping the test where the
// kernel's test runs are not allowed.
func kernelParse(t testing.TB, b []byte) h1check.Head {
	t.Helper()
	h, err := h1check.Parse(b)
	if err != nil {
		t.Fatalf("kernel parser on %q: %v", b, err)
	}
	return h
}

// sameHead fails unless the kernel's verdict on b is parse.go's: where
// the kernel parses a head to its end, parseHead accepts it with the
// same size, status or method, length and chunking, and where the kernel
// finds no head, parseHead finds it malformed.
func sameHead(t testing.TB, b []byte) {
	t.Helper()
	k := kernelParse(t, b)
	g, err := parseHead(b)
	switch {
	case k.Bad:
		if err != errMalformed {
			t.Errorf("%q: kernel says malformed, parse.go %v (%+v)", b, err, g)
		}
	case k.Punt || k.Size == 0:
		// Left to user space: nothing to compare.
	case err != nil:
		t.Errorf("%q: kernel parsed %+v, parse.go %v", b, k, err)
	case k.Size != g.size || k.Request != g.request || k.Length != g.bodyLength || k.Chunked != g.chunked ||
		(!k.Request && k.Status != g.status) || (k.Request && methodName(httpH1Method(k.Method)) != g.method):
		t.Errorf("%q: kernel %+v, parse.go %+v", b, k, g)
	}
}

// The kernel's parser and parse.go agree on heads at the edges of the
// rules, whole and cut short.
func TestKernelParserMatchesParseHead(t *testing.T) {
	testutil.RequireRoot(t)
	for _, s := range kernelParseSeeds {
		for _, b := range []string{s, s[:len(s)/2], s[:max(len(s)-1, 8)]} {
			if len(b) >= 8 {
				sameHead(t, []byte(b))
			}
		}
	}
	// A head the kernel follows to its end is not left to user space.
	if k := kernelParse(t, []byte(kernelParseSeeds[0])); k.Size != len(kernelParseSeeds[0]) || k.Bad || k.Punt {
		t.Errorf("kernel parser on %q: %+v", kernelParseSeeds[0], k)
	}
}

// FuzzKernelParser holds the kernel's parser to parse.go on any bytes.
func FuzzKernelParser(f *testing.F) {
	for _, s := range kernelParseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		testutil.RequireRoot(t)
		if len(b) < 8 || len(b) > 1500 { // a test run takes at most about a page
			return
		}
		sameHead(t, b)
	})
}
