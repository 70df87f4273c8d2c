package http

import (
	"bytes"
	"errors"
	"strings"

	"github.com/orb8/orb8/internal/events"
)

// An HTTP/1.x message head (RFC 9112): the start line, header fields and
// the empty line that ends them. Only what counting and framing need is
// kept; header values other than the framing ones are never copied.

// head is one parsed message head.
type head struct {
	request bool
	method  string // label value (methodLabel), requests only
	token   []byte // the method as sent, aliasing the packet
	target  []byte // request target as sent, aliasing the packet
	version byte   // minor version of HTTP/1.x: '0' or '1' (any digit)
	status  int    // responses only: 100..599
	// bodyLength is the Content-Length, or -1 without one.
	bodyLength int64
	chunked    bool
	// traceparent is the W3C traceparent field's value, aliasing the packet.
	traceparent []byte
	// size is the head's bytes, its final empty line included.
	size int
	// targetCut: the target goes on past the bytes at hand.
	targetCut bool
}

var (
	// errIncomplete: the bytes end before the head does.
	errIncomplete = errors.New("incomplete head")
	// errMalformed: not an HTTP/1.x head.
	errMalformed = errors.New("malformed head")
)

// maxMethod bounds a method token (the longest standard one has 7 bytes;
// extension methods such as PROPPATCH, MKCALENDAR, are longer).
const maxMethod = events.MaxHTTPMethod

// parseHead parses the head at the start of b. A head whose start line is
// complete but whose fields are not yields errIncomplete with the start
// line's fields set, for heads longer than the bytes captured.
func parseHead(b []byte) (head, error) {
	h := head{bodyLength: -1}
	line, rest, ok := cutLine(b)
	if !ok {
		return h, errIncomplete
	}
	if err := h.parseStartLine(line); err != nil {
		return h, err
	}
	for {
		field, after, ok := cutLine(rest)
		if !ok {
			return h, errIncomplete
		}
		rest = after
		if len(field) == 0 {
			h.size = len(b) - len(rest)
			return h, nil
		}
		if err := h.parseField(field); err != nil {
			return h, err
		}
	}
}

// cutLine splits b after its first line ending (CRLF, or a bare LF, which
// RFC 9112 2.2 lets a recipient accept), returning the line without it.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, b, false
	}
	line = b[:i]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, b[i+1:], true
}

var httpVersion = []byte("HTTP/1.")

func (h *head) parseStartLine(line []byte) error {
	if bytes.HasPrefix(line, httpVersion) { // HTTP/1.x SP 3DIGIT [SP reason]
		if len(line) < 12 || !digit(line[7]) || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
			return errMalformed
		}
		code := line[9:12]
		if code[0] < '1' || code[0] > '5' || !digit(code[1]) || !digit(code[2]) {
			return errMalformed
		}
		h.status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
		return nil
	}
	// method SP request-target SP HTTP/1.x
	sp := bytes.IndexByte(line, ' ')
	if sp < 1 || sp > maxMethod || !token(line[:sp]) {
		return errMalformed
	}
	rest := line[sp+1:]
	sp2 := bytes.LastIndexByte(rest, ' ')
	if sp2 < 1 {
		return errMalformed
	}
	version := rest[sp2+1:]
	if len(version) != len(httpVersion)+1 || !bytes.HasPrefix(version, httpVersion) || !digit(version[len(httpVersion)]) {
		return errMalformed
	}
	h.request, h.method, h.token, h.target = true, methodLabel(line[:sp]), line[:sp], rest[:sp2]
	h.version = version[len(httpVersion)]
	return nil
}

var (
	contentLength    = []byte("content-length")
	transferEncoding = []byte("transfer-encoding")
	traceparentField = []byte("traceparent")
	chunkedCoding    = []byte("chunked")
)

// parseField reads the framing fields and traceparent; others are only
// checked for a name.
func (h *head) parseField(field []byte) error {
	colon := bytes.IndexByte(field, ':')
	if colon < 1 || !token(field[:colon]) {
		return errMalformed
	}
	name, value := field[:colon], bytes.Trim(field[colon+1:], " \t")
	switch {
	case asciiEqualFold(name, contentLength):
		n, ok := parseLength(value)
		if !ok || (h.bodyLength >= 0 && h.bodyLength != n) {
			return errMalformed // RFC 9112 6.3: invalid or conflicting lengths
		}
		h.bodyLength = n
	case asciiEqualFold(name, transferEncoding):
		// Chunked when it is the last coding (RFC 9112 6.1).
		i := bytes.LastIndexByte(value, ',')
		h.chunked = asciiEqualFold(bytes.Trim(value[i+1:], " \t"), chunkedCoding)
	case asciiEqualFold(name, traceparentField):
		h.traceparent = value
	}
	return nil
}

// asciiEqualFold is bytes.EqualFold for ASCII letters only (RFC 9110 is
// case-insensitive in ASCII): the kernel's parser (h1.bpf.h) folds no
// other byte, as the Kelvin sign in "chun\u212aed" would be.
func asciiEqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x != y && (x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z') {
			return false
		}
	}
	return true
}

// parseLength parses a Content-Length value: decimal digits, at most 18 so
// that it cannot overflow.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !digit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func digit(c byte) bool { return c >= '0' && c <= '9' }

// token reports whether b is an RFC 9110 5.6.2 token.
func token(b []byte) bool {
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return len(b) > 0
}

// tchar marks the bytes a token may hold: visible ASCII but delimiters.
var tchar = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c)
	}
	return t
}()

// methodLabel is the label value of a method: a standard one (RFC 9110 9.3,
// RFC 5789) or OTHER, so that labels stay a small fixed set.
func methodLabel(m []byte) string {
	switch string(m) {
	case "GET":
		return "GET"
	case "HEAD":
		return "HEAD"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "CONNECT":
		return "CONNECT"
	case "OPTIONS":
		return "OPTIONS"
	case "TRACE":
		return "TRACE"
	case "PATCH":
		return "PATCH"
	}
	return "OTHER"
}

// responseBody reports whether a response of status to a request of method
// has a body (RFC 9112 6.3): not to HEAD, not 1xx, 204 or 304, and not a
// successful CONNECT's.
func responseBody(method string, status int) bool {
	switch {
	case method == "HEAD", status < 200, status == 204, status == 304:
		return false
	case method == "CONNECT" && status < 300:
		return false
	}
	return true
}
