package api

import (
	"encoding/json"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
)

func workloadMessage(w *cgroup.Workload, node string) *pb.Workload {
	return &pb.Workload{
		CgroupId: w.ID, Cgroup: w.Path, Namespace: w.Namespace, Pod: w.Pod, Container: w.Container,
		ContainerId: w.ContainerID, PodUid: w.PodUID, Runtime: w.Runtime, Unit: w.Unit, Node: node,
	}
}

func processMessage(p *events.Process) *pb.Process {
	return &pb.Process{Pid: p.PID, Ppid: p.PPID, Uid: p.UID, Comm: p.Comm}
}

func flowMessage(f *Flow, node string) *pb.Flow {
	m := &pb.Flow{
		Workload: workloadMessage(&f.Workload, node), Process: processMessage(&f.Process),
		Protocol: f.Protocol, Direction: f.Direction,
		TxBytes: f.TxBytes, RxBytes: f.RxBytes, TxPackets: f.TxPackets, RxPackets: f.RxPackets,
		Retransmits: f.Retransmits, RttSeconds: f.RTT.Seconds(),
	}
	if f.Local.IsValid() {
		m.LocalAddr, m.LocalPort = f.Local.Addr().String(), uint32(f.Local.Port())
	}
	if f.Remote.IsValid() {
		m.RemoteAddr, m.RemotePort = f.Remote.Addr().String(), uint32(f.Remote.Port())
	}
	if !f.LastSeen.IsZero() {
		m.LastSeen = timestamppb.New(f.LastSeen)
	}
	if f.Backend.IsValid() {
		m.BackendAddr, m.BackendPort = f.Backend.Addr().String(), uint32(f.Backend.Port())
	}
	m.RemotePeer, m.BackendPeer = peerMessage(f.RemotePeer), peerMessage(f.BackendPeer)
	return m
}

func peerMessage(p Peer) *pb.Peer {
	if p == (Peer{}) {
		return nil
	}
	return &pb.Peer{Kind: p.Kind, Namespace: p.Namespace, Name: p.Name}
}

func execMessage(x *events.Exec) *pb.ExecDetail {
	return &pb.ExecDetail{
		Filename: x.Filename, Path: x.Path, PathTruncated: x.PathTruncated,
		ParentPath: x.ParentPath, ParentPathTruncated: x.ParentPathTruncated,
		Args: x.Args, ArgsTruncated: x.ArgsTruncated,
	}
}

func dnsMessage(q *DNSQuery, node string) *pb.DNSQuery {
	return &pb.DNSQuery{
		Time: timestamppb.New(q.Time), Workload: workloadMessage(&q.Workload, node), Process: processMessage(&q.Process),
		Name: q.Name, Qtype: q.QType, Rcode: q.RCode, LatencySeconds: q.Latency.Seconds(), Server: q.Server,
	}
}

// attributesOf is an event without the fields every kind has, which the
// message carries typed: of events.Event's JSON, only the kind's detail.
// A shallower field hides the embedded one of the same JSON name, and a nil
// one is left out, so the workload and process are never encoded.
type attributesOf struct {
	*events.Event
	Time     *struct{} `json:"time,omitempty"`
	Kind     *struct{} `json:"kind,omitempty"`
	Workload *struct{} `json:"workload,omitempty"`
	Process  *struct{} `json:"process,omitempty"`
}

// eventMessage converts a bus event. Exec and exit have typed details; other
// kinds (added to internal/events by their probes) travel as JSON attributes,
// so a new kind streams without an API change.
func eventMessage(e *events.Event, node string) *pb.Event {
	m := &pb.Event{
		Time: timestamppb.New(e.Time), Kind: e.Kind, Node: node,
		Workload: workloadMessage(&e.Workload, node), Process: processMessage(&e.Process),
	}
	switch {
	case e.Exec != nil:
		m.Detail = &pb.Event_Exec{Exec: execMessage(e.Exec)}
	case e.Exit != nil:
		m.Detail = &pb.Event_Exit{Exit: &pb.ExitDetail{
			Code: int32(e.Exit.Code), Signal: int32(e.Exit.Signal), CoreDumped: e.Exit.CoreDumped, Reason: e.Exit.Reason,
		}}
	default:
		m.Attributes = eventAttributes(e)
	}
	return m
}

func eventAttributes(e *events.Event) *structpb.Struct {
	raw, err := json.Marshal(attributesOf{Event: e})
	if err != nil {
		return nil
	}
	var fields map[string]any
	if json.Unmarshal(raw, &fields) != nil || len(fields) == 0 {
		return nil
	}
	s, err := structpb.NewStruct(fields)
	if err != nil {
		return nil
	}
	return s
}

// gpus reads the device-level accelerator series (labels vendor, device,
// uuid, model), one device per vendor and device index.
func gpus(families []*dto.MetricFamily, node string) []*pb.GPU {
	set := map[string]func(g *pb.GPU, v float64){
		"orb8_accelerator_utilization_ratio":   func(g *pb.GPU, v float64) { g.UtilizationRatio = &v },
		"orb8_accelerator_memory_used_bytes":   func(g *pb.GPU, v float64) { g.MemoryUsedBytes = &v },
		"orb8_accelerator_memory_total_bytes":  func(g *pb.GPU, v float64) { g.MemoryTotalBytes = &v },
		"orb8_accelerator_temperature_celsius": func(g *pb.GPU, v float64) { g.TemperatureCelsius = &v },
		"orb8_accelerator_power_watts":         func(g *pb.GPU, v float64) { g.PowerWatts = &v },
	}
	byDevice := map[[2]string]*pb.GPU{}
	var out []*pb.GPU
	for _, fam := range families {
		apply := set[fam.GetName()]
		if apply == nil {
			continue
		}
		for _, m := range fam.GetMetric() {
			k := [2]string{labelValue(m, "vendor"), labelValue(m, "device")}
			g, ok := byDevice[k]
			if !ok {
				g = &pb.GPU{Vendor: k[0], Gpu: k[1], Uuid: labelValue(m, "uuid"), Model: labelValue(m, "model"), Node: node}
				byDevice[k] = g
				out = append(out, g)
			}
			apply(g, sampleValue(m))
		}
	}
	return out
}

// containsFold reports whether s contains lowerSub, ignoring ASCII case;
// lowerSub is lower case already (lowered once per request, not per entry)
// and nothing is allocated.
func containsFold(s, lowerSub string) bool {
	n := len(lowerSub)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lowerSub[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}
