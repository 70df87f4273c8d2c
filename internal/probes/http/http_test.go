package http

import (
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
