package agent

import (
	"fmt"
	"net/http"

	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/server"
)

// dnsProbe is the name of the probe whose bus events feed the API's DNS log.
const dnsProbe = "dns"

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
	if b.DNS == nil && a.hasProbe(dnsProbe) {
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

// apiBackend lends the agent's state to the API. A running probe that
// implements api.FlowSource or api.DNSSource serves flows or DNS queries.
func (a *Agent) apiBackend() api.Backend {
	b := api.Backend{
		Node: a.cfg.NodeName, CgroupRoot: a.resolver.Root(), Metrics: a.registry, Events: a.bus,
		Probes: a.probeStates, Cgroups: a.resolver.Matching, Workload: a.resolver.ByPath,
	}
	if a.kube != nil {
		b.Labels = a.kube
	}
	for _, p := range a.probes {
		if src, ok := p.Probe.(api.FlowSource); ok {
			b.Flows = runningFlows{p, src}
		}
		if src, ok := p.Probe.(api.DNSSource); ok {
			b.DNS = runningDNS{p, src}
		}
		if src, ok := p.Probe.(api.SyscallStreamer); ok {
			b.Syscalls = runningSyscalls{p, src}
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

// runningFlows and runningDNS ask a probe only once it runs.
type runningFlows struct {
	p   *runningProbe
	src api.FlowSource
}

func (r runningFlows) Flows() []api.Flow {
	if !r.p.running() {
		return nil
	}
	return r.src.Flows()
}

type runningDNS struct {
	p   *runningProbe
	src api.DNSSource
}

func (r runningDNS) DNSQueries() []api.DNSQuery {
	if !r.p.running() {
		return nil
	}
	return r.src.DNSQueries()
}

type runningSyscalls struct {
	p   *runningProbe
	src api.SyscallStreamer
}

func (r runningSyscalls) Stream(cgroupIDs []uint64, names []string) (func(), error) {
	if !r.p.running() {
		return nil, fmt.Errorf("the %s probe is not running: %s", r.p.Name(), r.p.status.Error)
	}
	return r.src.Stream(cgroupIDs, names)
}
