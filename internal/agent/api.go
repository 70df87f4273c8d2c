package agent

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/probes/dns"
	"github.com/orb8/orb8/internal/probes/http"
	"github.com/orb8/orb8/internal/probes/network"
	"github.com/orb8/orb8/internal/probes/syscalls"
	"github.com/orb8/orb8/internal/server"
)

// dnsLogSize is how many recent DNS lookups the API keeps.
const dnsLogSize = 4096

// trailSize is how many records of each kind (exec, connect, policy,
// anomaly) the audit trail keeps: about 13 MiB in all when full, plus the
// execs' arguments.
const trailSize = 8192

// API is the agent's gRPC API (internal/api) on each of its listeners.
type API struct {
	svc    *api.Service
	srvs   []*api.Server
	dnsLog *api.DNSLog
	trail  *api.AuditTrail
}

// ListenAPI binds the gRPC API on each address (unix:///PATH, HOST:PORT
// with TLS) with the agent's TLS settings and access decider. Serve it, and
// Close it before the agent.
func (a *Agent) ListenAPI(addrs ...string) (*API, error) {
	x := &API{}
	b := a.apiBackend()
	if a.hasProbe(dns.Name) { // its bus events feed the log
		x.dnsLog = api.NewDNSLog(a.bus, dnsLogSize)
		b.DNS = x.dnsLog
	}
	var name func(netip.Addr) api.Peer
	if names := a.ipNames(); names != nil {
		name = func(ip netip.Addr) api.Peer { return peerOf(names, ip) }
	}
	if a.cfg.AuditTrail {
		x.trail = api.NewAuditTrail(a.bus, trailSize, name)
		b.Trail = x.trail
		a.trailed.Store(true)
		a.learnPeers()
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
	if x.trail != nil {
		x.trail.Close()
	}
}

// apiBackend lends the agent's state to the API. Probes know nothing of the
// API: their own types are adapted here (network flows, the HTTP probe's
// notable requests, the syscalls probe's stream), and DNS lookups reach
// the API's log through the bus.
func (a *Agent) apiBackend() api.Backend {
	b := api.Backend{
		Node: a.cfg.NodeName, CgroupRoot: a.resolver.Root(), CgroupHierarchy: a.hierarchy.Name(), MaxOverhead: a.cfg.MaxOverhead,
		Metrics: a.registry, Events: a.bus,
		Probes: a.probeStates, Cgroups: a.resolver.Matching, Workload: a.resolver.ByPath,
	}
	if a.kube != nil {
		b.Labels = a.kube
	}
	if a.profiles != nil {
		b.Profiles = a.profiles.store
	}
	for _, p := range a.probes {
		switch probe := p.Probe.(type) {
		case *network.Probe:
			b.Flows = flowSource{p: p, net: probe, names: a.ipNames(), log: a.log}
		case *syscalls.Probe:
			b.Syscalls = syscallStreamer{p, probe}
		case *http.Probe:
			b.Requests = requestSource{p: p, http: probe, names: a.ipNames()}
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
