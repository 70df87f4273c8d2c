package network

import (
	"github.com/orb8/orb8/internal/api"
)

var _ api.FlowSource = (*Probe)(nil)

// Flows implements api.FlowSource: every flow of the table, open ones with
// their counts as of the call. The API filters, sorts and limits.
func (p *Probe) Flows() []api.Flow {
	flows, err := p.QueryFlows(FlowFilter{})
	if err != nil {
		p.warn("flow table: open connections not refreshed", err)
	}
	out := make([]api.Flow, len(flows))
	for i := range flows {
		f := &flows[i]
		out[i] = api.Flow{
			Workload: f.Workload, Process: f.Process, Protocol: f.Protocol, Direction: f.Direction,
			Local: f.Local, Remote: f.Remote,
			TxBytes: f.TxBytes, RxBytes: f.RxBytes, TxPackets: f.TxPackets, RxPackets: f.RxPackets,
			Retransmits: f.Retransmits, RTT: f.RTT, LastSeen: f.LastSeen,
		}
		p.namePeers(f, &out[i])
	}
	return out
}
