package http

import (
	"strconv"
	"testing"

	"github.com/orb8/orb8/internal/testutil"
)

// 37 requests answered 200 and 11 answered 404 over one keep-alive
// connection, counted exactly on both sides.
const (
	okRequests      = 37
	missingRequests = 11
)

func TestPythonServerKeepAlive(t *testing.T) {
	f := start(t)
	server := testutil.StartPiped(t, f.server.Command(t, mustLookPath(t, "python3"), "testdata/server.py"))
	f.runClient(t, port(t, server), okRequests, missingRequests, "GET")

	want := map[[2]string]float64{{"GET", "200"}: okRequests, {"GET", "404"}: missingRequests}
	f.expect(t, f.server, "server", want)
	f.expect(t, f.client, "client", want)
}

func TestGoServerKeepAlive(t *testing.T) {
	f := start(t)
	server := testutil.StartPiped(t, f.server.Helper(t, "serve"))
	f.runClient(t, port(t, server), okRequests, missingRequests, "POST")

	want := map[[2]string]float64{{"GET", "200"}: okRequests, {"POST", "404"}: missingRequests}
	f.expect(t, f.server, "server", want)
	f.expect(t, f.client, "client", want)
}

// Heads cut into several segments, inside the request and status lines
// (a probe that saw only the first segment would find no whole start line)
// and inside a field, are counted on both sides.
func TestHeadsSplitOverSegments(t *testing.T) {
	const n = 9
	f := start(t)
	server := testutil.StartPiped(t, f.server.Helper(t, "split-serve"))
	cmd := f.client.Helper(t, "split-client", port(t, server), strconv.Itoa(n))
	if out, err := cmd.Output(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	want := map[[2]string]float64{{"GET", "200"}: n}
	f.expect(t, f.server, "server", want)
	f.expect(t, f.client, "client", want)
}
