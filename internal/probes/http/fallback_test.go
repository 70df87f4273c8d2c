package http

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/orb8/orb8/internal/testutil"
)

// Every program that calls bpf_loop (5.17) has a fallback, and no fallback
// calls it: the constant that leaves out the HTTP/2 walk did, in the
// committed objects of both architectures.
func TestFallbacksNeedNoBpfLoop(t *testing.T) {
	var fallbacks []string
	for _, instead := range Programs.Fallback {
		fallbacks = append(fallbacks, instead...)
	}
	for _, obj := range []string{"http_x86_bpfel.o", "http_arm64_bpfel.o"} {
		spec, err := ebpf.LoadCollectionSpec(obj)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range slices.Sorted(maps.Keys(spec.Programs)) {
			_, hasFallback := Programs.Fallback[name]
			calls := callsBpfLoop(spec.Programs[name])
			switch {
			case slices.Contains(fallbacks, name) && calls:
				t.Errorf("%s: fallback %s calls bpf_loop", obj, name)
			case !slices.Contains(fallbacks, name) && calls != hasFallback:
				t.Errorf("%s: %s calls bpf_loop: %v, has a fallback: %v", obj, name, calls, hasFallback)
			}
		}
	}
}

func callsBpfLoop(p *ebpf.ProgramSpec) bool {
	for _, ins := range p.Instructions {
		if ins.IsBuiltinCall() && asm.BuiltinFunc(ins.Constant) == asm.FnLoop {
			return true
		}
	}
	return false
}

// startH1Only starts the probe (with TLS) as on a kernel that refuses the
// programs that follow HTTP/2: they are dropped from the collection, as
// process's exec test drops handle_exec.
func startH1Only(t *testing.T) *fixture {
	p := NewWithOptions(Options{TLS: true})
	p.tuneSpec = func(s *ebpf.CollectionSpec) {
		for prog := range Programs.Fallback {
			delete(s.Programs, prog)
		}
	}
	f := startWith(t, p)
	loaded := p.Objects().Programs()
	for prog, instead := range Programs.Fallback {
		if loaded[prog] != nil || loaded[instead[0]] == nil {
			t.Fatalf("%s loaded: %v, its fallback %s: %v; failed: %v", prog, loaded[prog] != nil, instead[0], loaded[instead[0]] != nil, p.Objects().Failed)
		}
	}
	err := p.Degraded()[h2Feature]
	if err == nil || !strings.Contains(err.Error(), "HTTP/2 not followed") {
		t.Fatalf("degraded %v, want %q: HTTP/2 not followed", p.Degraded(), h2Feature)
	}
	if p.Degraded()[tlsFeature] != nil || p.Degraded()[goTLSFeature] != nil {
		t.Fatalf("HTTPS degraded: %v", p.Degraded())
	}
	return f
}

// Where the kernel refuses bpf_loop the fallbacks count HTTP/1.x exactly:
// 37 GETs answered 200 and 11 POSTs answered 404 over one keep-alive
// connection on both sides, and HTTP/2 (h2c, 5 and 2 more of the same,
// sent first between the same cgroups) is not followed, so not counted.
func TestHTTP1WithoutBpfLoop(t *testing.T) {
	f := startH1Only(t)
	h2 := testutil.StartPiped(t, f.server.Helper(t, "h2-serve"))
	cmd := f.client.Helper(t, "h2-client", port(t, h2), "5", "2", "POST")
	if out, err := cmd.Output(); err != nil || string(out) != "done\n" {
		t.Fatalf("h2 client: %v, said %q", err, out)
	}
	server := testutil.StartPiped(t, f.server.Helper(t, "serve"))
	f.runClient(t, port(t, server), okRequests, missingRequests, "POST")
	f.expectBothSides(t, map[[2]string]float64{{"GET", "200"}: okRequests, {"POST", "404"}: missingRequests})
}

// The TLS fallbacks count HTTPS through Go's crypto/tls (go_tls_write_h1,
// go_tls_read_return_h1) and libssl (tls_return_h1) exactly on both sides.
func TestHTTPSWithoutBpfLoop(t *testing.T) {
	bin := buildGoTLS(t)
	f := startH1Only(t)
	goPort := f.startGoTLSServer(t, bin, "serve")
	f.runGoClient(t, bin, goPort, 5, 2, "POST")
	f.expectBothSides(t, map[[2]string]float64{{"GET", "200"}: 5, {"POST", "404"}: 2})

	sslPort, _ := f.startTLSServer(t)
	cmd := f.client.Command(t, mustLookPath(t, "python3"), "testdata/tls_client.py", sslPort, "3", "4")
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "done\n" {
		t.Fatalf("client: %v, said %q", err, out)
	}
	f.expectBothSides(t, map[[2]string]float64{{"GET", "200"}: 5 + 3, {"GET", "404"}: 4, {"POST", "404"}: 2})
}
