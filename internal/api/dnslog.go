package api

import (
	"sync"

	"github.com/orb8/orb8/internal/events"
)

// DNSLog is a DNSSource fed by the DNS probe's events on the bus: it keeps
// the most recent lookups in a fixed ring, so its memory is bounded. It
// takes a sample (SubscribeSample): while nobody streams every lookup, the
// probe sends it at most 256 UDP lookups a second.
type DNSLog struct {
	bus *events.Bus
	sub *events.Subscription
	wg  sync.WaitGroup

	mu   sync.Mutex
	ring ring[DNSQuery]
}

// NewDNSLog keeps the last size DNS lookups published on bus until Close.
func NewDNSLog(bus *events.Bus, size int) *DNSLog {
	l := &DNSLog{bus: bus, ring: newRing[DNSQuery](size)}
	// A sample is enough: under a storm the last size lookups span
	// milliseconds, and the probe need not send every lookup to user space.
	l.sub = bus.SubscribeSample(1024, []string{events.KindDNS})
	l.wg.Add(1)
	go l.run()
	return l
}

func (l *DNSLog) run() {
	defer l.wg.Done()
	for e := range l.sub.C {
		d := e.DNS
		q := DNSQuery{
			Time: e.Time, Workload: e.Workload, Process: e.Process,
			Name: d.QName, QType: d.QType, RCode: d.RCode, Latency: d.Latency,
		}
		if d.Server.IsValid() {
			q.Server = d.Server.String()
		}
		l.mu.Lock()
		l.ring.put(q)
		l.mu.Unlock()
	}
}

// DNSQueries implements DNSSource: a copy of the ring, oldest first.
func (l *DNSLog) DNSQueries() []DNSQuery {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ring.all()
}

// Dropped counts lookups the log missed because it fell behind the bus.
func (l *DNSLog) Dropped() uint64 { return l.sub.Dropped() }

// Close stops following the bus.
func (l *DNSLog) Close() {
	l.bus.Unsubscribe(l.sub)
	l.wg.Wait()
}
