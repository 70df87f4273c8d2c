package agent

import (
	"errors"
	"fmt"

	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/server"
)

// dnsProbe is the name of the probe whose bus events feed the API's DNS log.
const dnsProbe = "dns"

// dnsLogSize is how many recent DNS lookups the API keeps.
const dnsLogSize = 4096

// API is the agent's gRPC API (internal/api) on each of its listeners.
type API struct {
	svc    *api.Service
	srvs   []*api.Server
	dnsLog *api.DNSLog
}

// ListenAPI binds the gRPC API on each address (unix:///PATH, HOST:PORT
// with TLS) with the agent's TLS settings and access decider. Serve it, and
// Close it before the agent.
func (a *Agent) ListenAPI(addrs ...string) (*API, error) {
	x := &API{}
	b := a.apiBackend()
	if b.DNS == nil && a.hasProbe(dnsProbe) {
		x.dnsLog = api.NewDNSLog(a.bus, dnsLogSize)
		b.DNS = x.dnsLog
	}
	x.svc = api.NewService(b)
	cert, key := a.cfg.APITLS()
	files := server.TLSFiles{Cert: cert, Key: key, ClientCA: a.cfg.APIClientCA}
	for _, s := range addrs {
		addr, err := server.ParseAddress(s)
		if err == nil {
			var srv *api.Server
			if srv, err = api.Listen(addr, x.svc, files, a.decider); err == nil {
				x.srvs = append(x.srvs, srv)
				continue
			}
		}
		x.Close()
		return nil, err
	}
	return x, nil
}

// Addrs are the addresses the API listens on, as clients dial them.
func (x *API) Addrs() []string {
	var out []string
	for _, s := range x.srvs {
		out = append(out, s.Addr().String())
	}
	return out
}

// Serve serves gRPC on every listener until Close.
func (x *API) Serve() error {
	errs := make(chan error, len(x.srvs))
	for _, s := range x.srvs {
		go func() { errs <- s.Serve() }()
	}
	var err error
	for range x.srvs {
		err = errors.Join(err, <-errs)
	}
	return err
}

// Close ends every stream and stops listening.
func (x *API) Close() {
	for _, s := range x.srvs {
		s.Stop()
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
