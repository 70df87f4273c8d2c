package dns

import (
	"errors"

	"github.com/cilium/ebpf"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
)

// The kernel's side of UDP lookups (bpf/lookups.h): what it counts, read on
// a scrape, and the queries it holds, expired here.

// knownTypes is dns_known_types: a bit for every query type TypeName names,
// so that the kernel counts the others together as OTHER.
func knownTypes() (bits [5]uint64) {
	for t := range typeNames {
		if int(t) < 64*len(bits) {
			bits[t/64] |= 1 << (t % 64)
		}
	}
	return bits
}

// The kernel's latency buckets are the histogram's.
var _ = [numLatencyBuckets + 1]uint64(dnsLookupStats{}.Latency)

// qtypeLabel is the label value of a qtype the kernel counted.
func qtypeLabel(qtype uint16) string {
	if qtype == 0 {
		return noQuestionLabel
	}
	return TypeName(qtype)
}

// emitBits are the kernel's gate (enum emit): whether anyone wants every
// lookup, or only a sample of them (the API's log of recent lookups).
func emitBits(bus *events.Bus) uint32 {
	var on uint32
	if bus.WantsAll(events.KindDNS) {
		on |= 1 << dnsEmitEMIT_ALL
	}
	if bus.Wants(events.KindDNS) {
		on |= 1 << dnsEmitEMIT_SAMPLE
	}
	return on
}

// kernelStats adds the kernel's counts of UDP lookups to stats and its
// drops to dropped.
func (p *Probe) kernelStats(stats map[uint64]*workloadStats, dropped *[numDropReasons]uint64) error {
	if p.objs == nil || p.bpf.DnsCounts == nil { // closed
		return nil
	}
	of := func(id uint64) *workloadStats {
		ws := stats[id]
		if ws == nil {
			ws = newWorkloadStats()
			stats[id] = ws
		}
		return ws
	}
	err := probe.ForEachPerCPU(p.bpf.DnsCounts, func(k dnsCountKey, perCPU []uint64) {
		var n uint64
		for _, v := range perCPU {
			n += v
		}
		ws := of(k.CgroupId)
		if k.Kind == dnsCountKindCOUNT_QUERY {
			ws.queries[qtypeLabel(k.Qtype)] += n
		} else {
			ws.responses[responseKey{qtype: qtypeLabel(k.Qtype), rcode: RCodeName(k.Rcode)}] += n
		}
	})
	if err != nil {
		return err
	}
	err = probe.ForEachPerCPU(p.bpf.DnsStats, func(id uint64, perCPU []dnsLookupStats) {
		ws := of(id)
		for i := range perCPU {
			s := &perCPU[i]
			for slot, n := range s.Latency {
				ws.latency.counts[slot] += n
				ws.latency.count += n
			}
			ws.latency.sum += float64(s.LatencySumNs) / 1e9
			ws.unmatched += s.Unmatched
		}
	})
	if err != nil {
		return err
	}
	var perCPU []uint64
	for reason := range dnsDropReasonDROP_REASONS {
		if err := p.bpf.DnsDrops.Lookup(uint32(reason), &perCPU); err != nil {
			return err
		}
		for _, v := range perCPU {
			dropped[reason] += v
		}
	}
	return nil
}

// expireKernel deletes the queries the kernel holds that are older than
// the timeout at boot time nowNs, and counts them unanswered.
func (p *Probe) expireKernel(nowNs uint64) error {
	timeout := uint64(p.cfg.Timeout)
	if nowNs < timeout {
		return nil
	}
	type entry struct {
		key   dnsPendingKey
		query dnsPendingQuery
	}
	var expired []entry
	err := probe.ForEach(p.bpf.DnsPending, func(k dnsPendingKey, q *dnsPendingQuery) {
		if q.BootNs <= nowNs-timeout {
			expired = append(expired, entry{k, *q})
		}
	})
	// A response may take a query between the walk and its delete: only
	// what this delete removed is unanswered.
	for _, e := range expired {
		if derr := p.bpf.DnsPending.Delete(&e.key); derr == nil {
			p.tracker.unanswered(e.query.CgroupId, qtypeLabel(e.query.Qtype))
		} else if !errors.Is(derr, ebpf.ErrKeyNotExist) {
			err = errors.Join(err, derr)
		}
	}
	return err
}
