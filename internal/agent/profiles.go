package agent

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/orb8/orb8/internal/anomaly"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/kube"
	"github.com/orb8/orb8/internal/probes/network"
	"github.com/orb8/orb8/internal/tick"
)

// saveEvery is how often changed profiles are saved: what an agent killed
// without a chance to save loses.
const saveEvery = 2 * time.Second

// profiledKinds are the events profiles learn from, as the API's streams
// get them (exec with its paths, tcp per connection, dns per lookup): while
// profiles run, the kernel sends the exec and tcp open records it gates off
// while nobody watches.
var profiledKinds = []string{events.KindExec, events.KindTCP, events.KindDNS}

// profiler learns the behaviour profile of each workload identity from the
// bus's events, and raises what a frozen profile never showed as anomaly
// events (which the audit sinks record) and orb8_anomalies_total.
type profiler struct {
	a       *Agent
	store   *anomaly.Store
	counter *anomaly.Counter
	dir     string
	saved   uint64 // the store's version last saved
	stop    func()
	// sub is the profiler's subscription once started: a scrape may come
	// before.
	sub atomic.Pointer[events.Subscription]
}

// newProfiler is nil without --anomaly-detection.
func newProfiler(a *Agent) *profiler {
	if !a.cfg.AnomalyDetection {
		return nil
	}
	opts := anomaly.DefaultOptions()
	opts.Learning = a.cfg.AnomalyLearning
	opts.Minute = a.cfg.AnomalyMinute
	p := &profiler{a: a, store: anomaly.NewStore(opts), dir: a.cfg.StateDir}
	p.counter = anomaly.NewCounter(p.store, a.resolver, p.missed)
	return p
}

// missed is the events the profiler lost to a full buffer.
func (p *profiler) missed() uint64 {
	if sub := p.sub.Load(); sub != nil {
		return sub.Dropped()
	}
	return 0
}

// start loads the saved profiles (New made the state directory), then
// learns and checks until ctx ends. A corrupt state file is logged and
// profiles start anew.
func (p *profiler) start(ctx context.Context) error {
	var corrupt *anomaly.CorruptError
	if err := p.store.Load(p.dir); errors.As(err, &corrupt) {
		p.a.log.Error("profiles not restored", "err", err)
	} else if err != nil {
		return err
	}
	p.saved = p.store.Version()
	p.sub.Store(p.a.follow(ctx, profiledKinds, 4096, p.observe, nil))
	stopSave := tick.Every(ctx, saveEvery, func(time.Time) { p.save() })
	// Minutes close a minute (at least 2s) after they end: ticking twice
	// a minute raises a rate anomaly at most 1.5 of them after that.
	stopRates := tick.Every(ctx, p.a.cfg.AnomalyMinute/2, func(now time.Time) { p.raiseRates(p.store.Tick(now)) })
	p.stop = func() { stopRates(); stopSave() }
	p.a.log.Info("anomaly detection on", "profiles", len(p.store.Profiles()), "learning", p.a.cfg.AnomalyLearning, "state_dir", p.dir)
	return nil
}

// learnPeers makes the network probe pass the first connection of each
// workload to each peer to user space even while it sheds load: profiles
// and the API's audit trail must see every new peer. Probes that do not
// run yet are told when they start (Start).
func (a *Agent) learnPeers() {
	for _, rp := range a.probes {
		if n, ok := rp.Probe.(*network.Probe); ok && rp.running() {
			if err := n.LearnPeers(); err != nil {
				a.log.Warn("new peers may be shed under load", "err", err)
			}
		}
	}
}

// close stops saving and saves what changed.
func (p *profiler) close() {
	if p.stop != nil {
		p.stop()
		p.save()
	}
}

// save writes the profiles when they changed; the first failure is logged.
func (p *profiler) save() {
	if p.store.Version() == p.saved {
		return
	}
	v, err := p.store.Save(p.dir)
	if err != nil {
		if p.counter.SaveErrors.Add(1) == 1 {
			p.a.log.Warn("profiles not saved; later failures are counted in orb8_anomaly_state_save_errors_total", "err", err)
		}
		return
	}
	p.saved = v
}

// observe learns or checks what one event shows of its workload.
func (p *profiler) observe(e *events.Event) {
	var owners anomaly.Owners
	if p.a.kube != nil {
		owners = p.a.kube.Index
	}
	id, ok := anomaly.IdentityOf(&e.Workload, owners)
	if !ok {
		return
	}
	p.count(e, id)
	switch {
	case e.Exec != nil:
		path := e.Exec.Path
		if path == "" {
			path = e.Exec.Filename
		}
		p.check(e, id, anomaly.NewBinary, anomaly.Binary(path))
		p.check(e, id, anomaly.NewLineage, anomaly.Lineage(e.Exec.ParentPath, path))
	case e.TCP != nil:
		t := e.TCP
		switch {
		case t.Direction == "outbound" && (t.Event == "open" || t.Event == "failed"):
			p.check(e, id, anomaly.NewPeer, p.peer(t.Remote))
		case t.Direction == "inbound" && t.Event == "open":
			p.check(e, id, anomaly.NewListenPort, anomaly.ListenPort("tcp", t.Local.Port()))
		}
	case e.DNS != nil && e.DNS.QName != "":
		p.check(e, id, anomaly.NewDNSDomain, anomaly.Domain(e.DNS.QName))
	}
}

// count adds what the event shows to its workload's minute of the rate
// model.
func (p *profiler) count(e *events.Event, id anomaly.Identity) {
	var s anomaly.Sample
	switch {
	case e.Exec != nil:
		s.Exec = true
	case e.TCP != nil:
		t := e.TCP
		s.Connect = t.Direction == "outbound" && (t.Event == "open" || t.Event == "failed")
		s.Failed, s.Peer = t.Event == "failed", t.Remote
		if t.Event == "close" {
			s.BytesOut = t.TxBytes
		}
	case e.DNS != nil && e.DNS.QName != "":
		s.DNS, s.QName, s.RCode, s.Answered = true, e.DNS.QName, e.DNS.RCode, e.DNS.Answered
	default:
		return
	}
	p.raiseRates(p.store.Count(id, &e.Workload, &s, e.Time))
}

// raiseRates publishes and counts the rate anomalies of closed minutes.
func (p *profiler) raiseRates(raised []anomaly.RateAnomaly) {
	for _, r := range raised {
		p.counter.Raise(r.Workload.ID, anomaly.Rate)
		p.a.bus.Publish(events.Event{
			Time: r.Minute, Kind: events.KindAnomaly, Workload: r.Workload,
			Anomaly: &events.Anomaly{Kind: string(anomaly.Rate), Item: string(r.Feature), Profile: r.Identity.String(),
				Value: r.Value, Baseline: r.Baseline, Threshold: r.Threshold},
		})
	}
}

// peer is the item of a remote address: the Service or the owner of the
// pod that has it when the cluster says, else the address.
func (p *profiler) peer(remote netip.AddrPort) string {
	if p.a.kube != nil {
		switch kind, ns, name := p.a.kube.NameIP(remote.Addr()); kind {
		case kube.KindService:
			return anomaly.Named(kind, ns, name, remote.Port())
		case kube.KindPod:
			if okind, oname, ok := p.a.kube.Owner(ns, name); ok {
				return anomaly.Named(okind, ns, oname, remote.Port())
			}
		}
	}
	return anomaly.Address(remote)
}

// check raises item as an anomaly of kind when the profile says it is one.
func (p *profiler) check(e *events.Event, id anomaly.Identity, kind anomaly.Kind, item string) {
	if !p.store.Observe(id, kind, item, e.Time) {
		return
	}
	p.counter.Raise(e.Workload.ID, kind)
	p.a.bus.Publish(events.Event{
		Time: e.Time, Kind: events.KindAnomaly, Workload: e.Workload, Process: e.Process,
		Anomaly: &events.Anomaly{Kind: string(kind), Item: item, Profile: id.String()},
	})
}
