package testutil

import (
	"strings"
	"testing"
)

// statusServer is a Python HTTP/1.1 keep-alive server on a loopback port it
// prints: /ok answers 200, anything else 503.
const statusServer = `import http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200 if self.path == "/ok" else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
`

// StatusServer runs an HTTP server in cg until the test ends, answering
// GET /ok with 200 and any other path with 503, and returns its base URL
// ("http://127.0.0.1:PORT").
func StatusServer(t testing.TB, cg *Cgroup) string {
	t.Helper()
	srv := StartPiped(t, cg.Command(t, "/usr/bin/python3", "-c", statusServer))
	line, err := srv.Stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("HTTP server's port: %v", err)
	}
	return "http://127.0.0.1:" + strings.TrimSpace(line)
}

// StatusRequests are curl's arguments for n GETs of base over one
// keep-alive connection, every third of them (from the second) to /down
// with a query string, the others to /ok.
func StatusRequests(base string, n int) []string {
	var args []string
	for i := range n {
		path := "/ok"
		if i%3 == 1 {
			path = "/down?token=secret"
		}
		args = append(args, "-s", "-o", "/dev/null", base+path)
	}
	return args
}
