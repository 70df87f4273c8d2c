package http

import (
	"strconv"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/events"
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
	f.expectBothSides(t, want)
}

func TestGoServerKeepAlive(t *testing.T) {
	f := start(t)
	server := testutil.StartPiped(t, f.server.Helper(t, "serve"))
	f.runClient(t, port(t, server), okRequests, missingRequests, "POST")

	want := map[[2]string]float64{{"GET", "200"}: okRequests, {"POST", "404"}: missingRequests}
	f.expectBothSides(t, want)
}

// The same over IPv6 (the kernel side reads IPv6 headers).
func TestGoServerKeepAliveIPv6(t *testing.T) {
	f := start(t)
	f.host = "::1"
	server := testutil.StartPiped(t, f.helper(t, f.server, "serve"))
	f.runClient(t, port(t, server), okRequests, missingRequests, "POST")

	want := map[[2]string]float64{{"GET", "200"}: okRequests, {"POST", "404"}: missingRequests}
	f.expectBothSides(t, want)
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
	f.expectBothSides(t, want)
}

// Each request is one http event on each side, in order, with the method
// as sent, the path without its query string, the status, a latency and
// the other end as peer; nothing while nobody listens.
func TestEvents(t *testing.T) {
	f := start(t)
	server := testutil.StartPiped(t, f.server.Helper(t, "serve"))
	serverPort := port(t, server)
	sides := f.subscribeSides(t)
	f.runClient(t, serverPort, okRequests, missingRequests, "POST")

	for side, sub := range sides {
		got := receive(t, sub, okRequests+missingRequests)
		ok, missing := okRequests, missingRequests
		for i, e := range got {
			d := e.HTTP
			want := events.HTTP{Direction: side, Method: "GET", Path: "/ok", Status: 200, Protocol: "HTTP/1.1"}
			if missingAt(i, ok, missing) {
				want.Method, want.Path, want.Status = "POST", "/missing", 404
				missing--
			} else {
				ok--
			}
			peerOK := d.Peer.Addr().String() == "127.0.0.1" && (strconv.Itoa(int(d.Peer.Port())) == serverPort) == (side == "client")
			if d.Direction != want.Direction || d.Method != want.Method || d.Path != want.Path || d.PathTruncated ||
				d.Status != want.Status || d.Protocol != want.Protocol || d.Latency <= 0 || d.Latency > time.Second || !peerOK {
				t.Errorf("%s event %d = %+v, want %+v with a latency and the other end as peer", side, i, d, want)
			}
		}
	}
}

// receive takes exactly want events from sub, failing on fewer or more.
func receive(t *testing.T, sub *events.Subscription, want int) []events.Event {
	t.Helper()
	var got []events.Event
	for len(got) < want {
		select {
		case e := <-sub.C:
			got = append(got, e)
		case <-time.After(3 * time.Second):
			t.Fatalf("%d http events, want %d", len(got), want)
		}
	}
	select {
	case e := <-sub.C:
		t.Fatalf("http event beyond the %d expected: %+v", want, e.HTTP)
	case <-time.After(100 * time.Millisecond):
	}
	if n := sub.Dropped(); n != 0 {
		t.Fatalf("%d http events lost to the test's full buffer", n)
	}
	return got
}
