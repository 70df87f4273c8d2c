package agent

import (
	"fmt"
	"net/http"

	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/probes/dns"
	"github.com/orb8/orb8/internal/probes/network"
	"github.com/orb8/orb8/internal/probes/syscalls"
	"github.com/orb8/orb8/internal/server"
)

// dnsLogSize is how many recent DNS lookups the API keeps.
const dnsLogSize = 4096

// API is the agent's gRPC API (internal/api) and its JSON twin for the
// metrics listener.
type API struct {
	svc    *api.Service
	srv    *api.Server
	dnsLog *api.DNSLog
}

// ListenAPI binds the gRPC API on addr (HOST:PORT or unix:PATH) with the
// agent's TLS settings. Serve it, and Close it before the agent.
func (a *Agent) ListenAPI(addr string) (*API, error) {
	x := &API{}
	b := a.apiBackend()
	if a.hasProbe(dns.Name) { // its bus events feed the log
		x.dnsLog = api.NewDNSLog(a.bus, dnsLogSize)
		b.DNS = x.dnsLog
	}
	x.svc = api.NewService(b)
	files := server.TLSFiles{Cert: a.cfg.TLSCert, Key: a.cfg.TLSKey, ClientCA: a.cfg.TLSClientCA}
	srv, err := api.Listen(addr, x.svc, files)
	if err != nil {
		x.Close()
		return nil, err
	}
	x.srv = srv
	return x, nil
}

// Addr is the address the API listens on, as clients dial it.
func (x *API) Addr() string {
	if a := x.srv.Addr(); a.Network() == "unix" {
		return "unix:" + a.String()
	}
	return x.srv.Addr().String()
}

// Serve serves gRPC until Close.
func (x *API) Serve() error { return x.srv.Serve() }

// Handler serves the API's JSON under /api/v1/ and everything else with next.
func (x *API) Handler(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", x.svc.JSONHandler())
	mux.Handle("/", next)
	return mux
}

// Close ends every stream and stops listening.
func (x *API) Close() {
	if x.srv != nil {
		x.srv.Stop()
	}
	if x.dnsLog != nil {
		x.dnsLog.Close()
	}
}

// apiBackend lends the agent's state to the API. Probes know nothing of the
// API: their own types are adapted here (network flows, the syscalls
// probe's stream), and DNS lookups reach the API's log through the bus.
func (a *Agent) apiBackend() api.Backend {
	b := api.Backend{
		Node: a.cfg.NodeName, CgroupRoot: a.resolver.Root(), Metrics: a.registry, Events: a.bus,
		Probes: a.probeStates, Cgroups: a.resolver.Matching,
	}
	if a.kube != nil {
		b.Labels = a.kube
	}
	for _, p := range a.probes {
		switch probe := p.Probe.(type) {
		case *network.Probe:
			b.Flows = flowSource{p: p, net: probe, names: a.ipNames(), log: a.log}
		case *syscalls.Probe:
			b.Syscalls = syscallStreamer{p, probe}
		}
	}
	return b
}

func (a *Agent) probeStates() []api.ProbeState {
	var out []api.ProbeState
	for _, s := range a.Status() {
		out = append(out, api.ProbeState{Name: s.Name, Up: s.Up, Error: s.Error, Degraded: s.Degraded})
	}
	return out
}

func (a *Agent) hasProbe(name string) bool {
	for _, p := range a.probes {
		if p.Name() == name {
			return true
		}
	}
	return false
}

// syscallStreamer serves the syscalls probe's stream once the probe runs.
type syscallStreamer struct {
	p   *runningProbe
	src *syscalls.Probe
}

// Stream implements api.SyscallStreamer.
func (s syscallStreamer) Stream(cgroupIDs []uint64, names []string) (func(), error) {
	if !s.p.running() {
		return nil, fmt.Errorf("the %s probe is not running: %s", s.p.Name(), s.p.status.Error)
	}
	return s.src.Stream(cgroupIDs, names)
}
