package dns

import (
	"time"

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

// expireMargin is how much longer than the timeout a query waits before
// user space counts it: a response whose program read the clock just
// before the timeout may still be about to take it.
const expireMargin = 100 * time.Millisecond

// expireKernel counts the queries the kernel holds that waited longer than
// the timeout (and the margin) at boot time nowNs as unanswered, and frees
// their slots. The kernel does not take such a query (its response is
// unmatched) and writes a slot only when it is free, so an expired query's
// slot is written by this free alone: it reads whole without the slot's
// lock, and the free races with nothing.
func (p *Probe) expireKernel(nowNs uint64) error {
	limit := uint64(p.cfg.Timeout + expireMargin)
	if nowNs < limit {
		return nil
	}
	if waiting, err := p.kernelWaiting(); err != nil || waiting == 0 {
		return err
	}
	type entry struct {
		slot     uint32
		cgroupID uint64
		qtype    uint16
	}
	var expired []entry
	err := probe.ForEach(p.bpf.DnsPending, func(slot uint32, s *dnsPendingSlot) {
		if s.Q.BootNs != 0 && s.Q.BootNs <= nowNs-limit {
			expired = append(expired, entry{slot, s.Q.CgroupId, s.Q.Qtype})
		}
	})
	var free dnsPendingSlot
	for _, e := range expired {
		if uerr := p.bpf.DnsPending.Update(e.slot, &free, ebpf.UpdateLock); uerr != nil {
			if err == nil {
				err = uerr // the next walk tries again; one error says why
			}
			continue
		}
		p.expired.Add(1)
		p.tracker.unanswered(e.cgroupID, qtypeLabel(e.qtype))
	}
	return err
}

// kernelWaiting is how many queries the kernel holds: those it held less
// those responses took and the walk freed. Taken is read first, so a race
// with the programs overstates it.
func (p *Probe) kernelWaiting() (uint64, error) {
	var n [dnsPendingCountPENDING_COUNTS]uint64
	for _, c := range []dnsPendingCount{dnsPendingCountPENDING_TAKEN, dnsPendingCountPENDING_HELD} {
		var perCPU []uint64
		if err := p.bpf.DnsPendingCounts.Lookup(uint32(c), &perCPU); err != nil {
			return 0, err
		}
		for _, v := range perCPU {
			n[c] += v
		}
	}
	return n[dnsPendingCountPENDING_HELD] - n[dnsPendingCountPENDING_TAKEN] - p.expired.Load(), nil
}
