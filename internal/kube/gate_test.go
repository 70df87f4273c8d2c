package kube

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

var discard = slog.New(slog.DiscardHandler)

var errRefused = &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api/v1/pods",
	Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}

// TestHeldCallsShareOneProbe: calls refused during an outage wait for the
// gate's probe, one for all of them, and go through once it finds the
// server serving.
func TestHeldCallsShareOneProbe(t *testing.T) {
	const n = 5
	var up atomic.Bool
	var probes, calls atomic.Int32
	g := &apiGate{log: discard, serving: func(context.Context) bool {
		if probes.Add(1) == 3 {
			up.Store(true)
		}
		return up.Load()
	}}
	// The first n calls are refused together, so that all wait in one
	// outage: its first probe comes 250 ms or more after them.
	var refused sync.WaitGroup
	refused.Add(n)
	call := held(g, func(context.Context, metav1.ListOptions) (int, error) {
		if calls.Add(1) <= n {
			refused.Done()
			refused.Wait()
			return 0, errRefused
		}
		return 1, nil
	})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if v, err := call(t.Context(), metav1.ListOptions{}); v != 1 || err != nil {
				t.Errorf("held call: %v, %v", v, err)
			}
		})
	}
	wg.Wait()
	if got := probes.Load(); got != 3 {
		t.Errorf("%d probes, want 3: one probe at a time for all the held calls", got)
	}
	if got := calls.Load(); got != 2*n {
		t.Errorf("%d calls, want %d: each refused once, then through", got, 2*n)
	}
}

// TestHeldCallsPassOtherErrors: only a refused connection is held.
func TestHeldCallsPassOtherErrors(t *testing.T) {
	g := &apiGate{log: discard, serving: func(context.Context) bool { t.Error("probed"); return true }}
	forbidden := errors.New("pods is forbidden")
	_, err := held(g, func(context.Context, metav1.ListOptions) (int, error) { return 0, forbidden })(t.Context(), metav1.ListOptions{})
	if err != forbidden {
		t.Errorf("got %v, want %v", err, forbidden)
	}
}

// TestHeldCallsEndWithTheirContext: a call held through an outage returns
// the refusal when its context ends.
func TestHeldCallsEndWithTheirContext(t *testing.T) {
	g := &apiGate{log: discard, serving: func(context.Context) bool { return false }}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := held(g, func(context.Context, metav1.ListOptions) (int, error) { return 0, errRefused })(ctx, metav1.ListOptions{})
	if err != errRefused {
		t.Errorf("got %v, want the refusal", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned %v after its context ended", d)
	}
}

// TestGateProbe: any HTTP answer of /readyz, under the host's path, opens
// the gate (a cluster may deny the probe, a proxy answer 502); a closed
// port does not.
func TestGateProbe(t *testing.T) {
	for _, code := range []int{http.StatusOK, http.StatusForbidden, http.StatusBadGateway} {
		var path string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			path = r.URL.Path
			w.WriteHeader(code)
		}))
		g, err := newAPIGate(&rest.Config{Host: srv.URL + "/prefix"}, discard)
		if err != nil {
			t.Fatal(err)
		}
		if !g.serving(t.Context()) {
			t.Errorf("answer %d: not serving", code)
		}
		if path != "/prefix/readyz" {
			t.Errorf("probed %q, want /prefix/readyz", path)
		}
		srv.Close()
		start := time.Now()
		if g.serving(t.Context()) {
			t.Errorf("closed port: serving")
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("a refused probe took %v: retried?", d)
		}
	}
}
