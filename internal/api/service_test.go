package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/access"
	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/server"
	"github.com/orb8/orb8/internal/testutil"
)

type flows []api.Flow

func (f flows) Flows() []api.Flow { return f }

type podLabels map[string]map[string]string

func (p podLabels) PodLabels(ns, pod string) map[string]string { return p[ns+"/"+pod] }

var (
	web = cgroup.Workload{Path: "/kubepods/pod1/c1", Namespace: "shop", Pod: "web-1", Container: "web"}
	db  = cgroup.Workload{Path: "/kubepods/pod2/c2", Namespace: "shop", Pod: "db-1", Container: "db"}
)

// registry holds per-workload series as the probes export them.
func registry(t *testing.T) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	labels := []string{"namespace", "pod", "container", "cgroup"}
	execs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orb8_process_exec_total"}, labels)
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orb8_network_bytes_total"}, append(labels, "protocol", "direction"))
	dns := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orb8_dns_responses_total"}, append(labels, "qtype", "rcode"))
	reg.MustRegister(execs, bytes, dns)
	execs.WithLabelValues(web.LabelValues()...).Add(3)
	execs.WithLabelValues(db.LabelValues()...).Add(5)
	bytes.WithLabelValues(append(web.LabelValues(), "tcp", "tx")...).Add(100)
	bytes.WithLabelValues(append(web.LabelValues(), "udp", "tx")...).Add(20)
	bytes.WithLabelValues(append(web.LabelValues(), "tcp", "rx")...).Add(7)
	dns.WithLabelValues(append(web.LabelValues(), "A", "NOERROR")...).Add(10)
	dns.WithLabelValues(append(web.LabelValues(), "A", "NXDOMAIN")...).Add(2)
	dns.WithLabelValues(append(web.LabelValues(), "AAAA", "SERVFAIL")...).Add(1)
	return reg
}

// serveLocal serves svc on a unix socket for the test and dials it.
func serveLocal(t *testing.T, svc *api.Service) *apiclient.Agent {
	t.Helper()
	c, err := apiclient.Dial(context.Background(), listenLocal(t, svc), apiclient.TLS{}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// listenLocal serves svc on a unix socket for the test and returns its address.
func listenLocal(t *testing.T, svc *api.Service) string {
	t.Helper()
	addr, err := server.ParseAddress(testutil.Socket(t))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.Listen(addr, svc, server.TLSFiles{}, access.NewDecider(nil, "node-a"))
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(srv.Stop)
	return srv.Addr().String()
}

func backend(t *testing.T) api.Backend {
	return api.Backend{
		Node: "node-a", Metrics: registry(t), Events: events.NewBus(),
		Labels: podLabels{"shop/web-1": {"app": "web"}, "shop/db-1": {"app": "db"}},
		Flows: flows{
			{Workload: web, Protocol: "tcp", Remote: netip.MustParseAddrPort("10.0.0.2:443"), Traffic: events.Traffic{TxBytes: 10}},
			{Workload: web, Protocol: "udp", Remote: netip.MustParseAddrPort("10.0.0.3:53"), Traffic: events.Traffic{TxBytes: 500}},
			{Workload: db, Protocol: "tcp", Remote: netip.MustParseAddrPort("10.0.0.4:5432"), Traffic: events.Traffic{TxBytes: 99}},
		},
	}
}

func TestWorkloadFiguresAndSelector(t *testing.T) {
	svc := api.NewService(backend(t))
	resp, err := svc.ListWorkloads(context.Background(), &pb.ListWorkloadsRequest{Filter: &pb.WorkloadFilter{Selector: "app=web"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Workloads) != 1 {
		t.Fatalf("app=web selected %d workloads", len(resp.Workloads))
	}
	f := resp.Workloads[0]
	if f.GetWorkload().GetPod() != "web-1" || f.GetWorkload().GetNode() != "node-a" || f.GetWorkload().GetLabels()["app"] != "web" {
		t.Errorf("workload = %v", f.GetWorkload())
	}
	if f.GetExecTotal() != 3 || f.GetNetworkTxBytesTotal() != 120 || f.GetNetworkRxBytesTotal() != 7 || f.GetDnsErrorsTotal() != 3 {
		t.Errorf("figures = %v", f)
	}
	if f.MemoryUsageBytes != nil || f.OpenFds != nil {
		t.Errorf("figures no probe provides must be absent: %v", f)
	}
	if _, err := svc.ListWorkloads(context.Background(), &pb.ListWorkloadsRequest{Filter: &pb.WorkloadFilter{Selector: "app=("}}); err == nil {
		t.Error("a bad selector was accepted")
	}
}

func TestFlowsFilteredSortedLimited(t *testing.T) {
	svc := api.NewService(backend(t))
	resp, err := svc.ListFlows(context.Background(), &pb.ListFlowsRequest{Filter: &pb.WorkloadFilter{Pod: "web-*"}, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Flows) != 1 || resp.Truncated != 1 || resp.Flows[0].GetRemotePort() != 53 {
		t.Fatalf("flows = %v", resp)
	}
	resp, _ = svc.ListFlows(context.Background(), &pb.ListFlowsRequest{Protocol: "tcp"})
	if len(resp.Flows) != 2 || resp.Flows[0].GetWorkload().GetPod() != "db-1" {
		t.Fatalf("tcp flows = %v", resp)
	}
}

func TestDNSLogKeepsTheNewestLookups(t *testing.T) {
	bus := events.NewBus()
	log := api.NewDNSLog(bus, 3)
	defer log.Close()
	now := time.Now()
	for i, name := range []string{"a.example", "b.example", "c.example", "d.example"} {
		rcode := "NOERROR"
		if i == 3 {
			rcode = "NXDOMAIN"
		}
		bus.Publish(events.Event{Time: now.Add(time.Duration(i) * time.Second), Kind: events.KindDNS, Workload: web,
			DNS: &events.DNS{QName: name, QType: "A", RCode: rcode, Answered: true}})
	}
	b := backend(t)
	b.DNS = log
	svc := api.NewService(b)
	var resp *pb.ListDNSResponse
	deadline := time.Now().Add(2 * time.Second)
	// The log takes the bus's events on its own goroutine: wait for the last.
	for (len(resp.GetQueries()) < 3 || resp.GetQueries()[0].GetName() != "d.example") && time.Now().Before(deadline) {
		resp, _ = svc.ListDNS(context.Background(), &pb.ListDNSRequest{})
		time.Sleep(5 * time.Millisecond)
	}
	var names []string
	for _, q := range resp.GetQueries() {
		names = append(names, q.GetName())
	}
	if strings.Join(names, ",") != "d.example,c.example,b.example" {
		t.Fatalf("DNS log, newest first = %v", names)
	}
	errs, _ := svc.ListDNS(context.Background(), &pb.ListDNSRequest{ErrorsOnly: true})
	if len(errs.GetQueries()) != 1 || errs.GetQueries()[0].GetRcode() != "NXDOMAIN" {
		t.Fatalf("errors only = %v", errs)
	}
}

// A client that does not read loses events; the agent never waits for it,
// and the stream reports the loss.
func TestSlowClientDropsAreCountedAndReported(t *testing.T) {
	b := backend(t)
	svc := api.NewService(b)
	c := serveLocal(t, svc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	drops := make(chan uint64, 10)
	block := make(chan struct{})
	go c.Watch(ctx, &pb.WatchEventsRequest{Kinds: []string{"exec"}}, func(msg *pb.WatchEventsResponse) error {
		if d := msg.GetDrops(); d != nil {
			drops <- d.GetTotal()
			return nil
		}
		<-block // stall on the first event
		return nil
	})
	for !b.Events.Wants(events.KindExec) {
		time.Sleep(time.Millisecond)
	}
	const published = 200000
	start := time.Now()
	for range published {
		b.Events.Publish(events.Event{Kind: events.KindExec, Workload: web, Exec: &events.Exec{Filename: strings.Repeat("x", 200)}})
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("publishing to a stalled client took %v", took)
	}
	st, _ := svc.GetStatus(context.Background(), &pb.GetStatusRequest{})
	if st.GetApiStreams() != 1 || st.GetApiEventsDropped() == 0 {
		t.Fatalf("status: streams %d dropped %d", st.GetApiStreams(), st.GetApiEventsDropped())
	}
	close(block)
	select {
	case d := <-drops:
		if d == 0 || d > published {
			t.Errorf("reported drops %d", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the stream never reported its drops")
	}
}

// Several agents at once (--all-nodes, the hub): every agent is asked, the
// answers merged, and limits apply to the merge.
func TestMultiMergesAgents(t *testing.T) {
	var members []apiclient.Client
	for _, node := range []string{"node-a", "node-b"} {
		b := backend(t)
		b.Node = node
		members = append(members, serveLocal(t, api.NewService(b)))
	}
	c := apiclient.NewMulti(members...)
	list, err := c.Workloads(context.Background(), &pb.ListWorkloadsRequest{Filter: &pb.WorkloadFilter{Namespace: "shop", Pod: "web-1"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range list {
		got = append(got, w.GetWorkload().GetNode()+"/"+w.GetWorkload().GetPod())
	}
	if strings.Join(got, ",") != "node-a/web-1,node-b/web-1" {
		t.Fatalf("workloads across nodes = %v", got)
	}
	st, err := c.Statuses(context.Background())
	if err != nil || len(st) != 2 || st[0].GetNode() != "node-a" || st[1].GetNode() != "node-b" {
		t.Fatalf("statuses = %v, %v", st, err)
	}
	flows, err := c.Flows(context.Background(), &pb.ListFlowsRequest{Limit: 2})
	if err != nil || len(flows) != 2 || flows[0].GetTxBytes() != 500 || flows[1].GetTxBytes() != 500 {
		t.Fatalf("merged flows = %v, %v", flows, err)
	}
}

// dropsAgent is an agent's stream as a Client sees it: its running total
// of drops, one event, then nothing until the caller leaves.
type dropsAgent struct {
	apiclient.Client
	node    string
	dropped uint64
}

func (a dropsAgent) Watch(ctx context.Context, _ *pb.WatchEventsRequest, fn func(*pb.WatchEventsResponse) error) error {
	for _, msg := range []*pb.WatchEventsResponse{
		{Item: &pb.WatchEventsResponse_Drops{Drops: &pb.Drops{Total: a.dropped}}},
		{Item: &pb.WatchEventsResponse_Event{Event: &pb.Event{Kind: "exec", Node: a.node}}},
	} {
		if err := fn(msg); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

// A merged stream reports the sum of every agent's drops, and an error that
// fn returns to stop (trace --count) comes back as itself.
func TestMultiWatchSumsDropsAndStops(t *testing.T) {
	c := apiclient.NewMulti(dropsAgent{node: "node-a", dropped: 3}, dropsAgent{node: "node-b", dropped: 5})
	stop := errors.New("enough")
	var lastDrops uint64
	seen := 0
	err := c.Watch(context.Background(), &pb.WatchEventsRequest{}, func(msg *pb.WatchEventsResponse) error {
		if d := msg.GetDrops(); d != nil {
			lastDrops = d.GetTotal()
			return nil
		}
		if seen++; seen == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Watch returned %v, want the stop error", err)
	}
	if lastDrops != 3+5 {
		t.Fatalf("reported drops = %d, want 8 (3 + 5)", lastDrops)
	}
}

// Open streams are bounded: each holds a buffer, so one more than the cap is
// refused with a message, and a slot frees when a stream ends.
func TestEventStreamsAreCapped(t *testing.T) {
	b := backend(t)
	svc := api.NewService(b)
	c := serveLocal(t, svc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const limit = 64
	for range limit {
		go c.Watch(ctx, &pb.WatchEventsRequest{}, func(*pb.WatchEventsResponse) error { return nil })
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		st, _ := svc.GetStatus(context.Background(), &pb.GetStatusRequest{})
		return st.GetApiStreams() == limit
	}, "never reached %d open streams", limit)
	one, stop := context.WithTimeout(context.Background(), 2*time.Second)
	defer stop()
	err := c.Watch(one, &pb.WatchEventsRequest{}, func(*pb.WatchEventsResponse) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "already serves 64 event streams") {
		t.Fatalf("stream beyond the cap: %v", err)
	}
}

// A client that stops reading is evicted once its events went unread for
// the stall limit, and counted; its slot frees for others.
func TestStalledStreamsAreEvicted(t *testing.T) {
	defer api.SetStallLimit(time.Second)()
	b := backend(t)
	svc := api.NewService(b)
	c := serveLocal(t, svc)
	ended := make(chan error, 1)
	block := make(chan struct{})
	defer close(block)
	go func() {
		ended <- c.Watch(context.Background(), &pb.WatchEventsRequest{Kinds: []string{"exec"}}, func(*pb.WatchEventsResponse) error {
			<-block // never reads past the first event
			return nil
		})
	}()
	for !b.Events.Wants(events.KindExec) {
		time.Sleep(time.Millisecond)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for range 10000 {
			b.Events.Publish(events.Event{Kind: events.KindExec, Workload: web, Exec: &events.Exec{Filename: strings.Repeat("x", 200)}})
		}
		if _, _, evicted := svc.StreamStats(); evicted == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a stalled stream was never evicted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { open, _, _ := svc.StreamStats(); return open == 0 }, "the evicted stream still holds its slot")
}

// The status of an accelerator runtime's probe says what it samples, from
// the probe's gauges.
func TestStatusSaysWhatIsSampled(t *testing.T) {
	b := backend(t)
	reg := b.Metrics.(*prometheus.Registry)
	ratio := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orb8_accelerator_sampling_ratio"}, []string{"runtime", "call"})
	sampled := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orb8_accelerator_sampled_processes"}, []string{"runtime"})
	reg.MustRegister(ratio, sampled)
	ratio.WithLabelValues("cuda", "launch").Set(0.25)
	ratio.WithLabelValues("cuda", "gemm").Set(1)
	sampled.WithLabelValues("cuda").Set(3)
	b.Probes = func() []api.ProbeState {
		return []api.ProbeState{{Name: "process", Up: true}, {Name: "cuda", Up: true}}
	}
	st, err := api.NewService(b).GetStatus(context.Background(), &pb.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.GetProbes() {
		got := fmt.Sprint(p.GetSampledProcesses())
		for _, s := range p.GetSampling() {
			got += fmt.Sprintf(" %s=%g", s.GetCall(), s.GetRatio())
		}
		want := "0"
		if p.GetName() == "cuda" {
			want = "3 gemm=1 launch=0.25"
		}
		if got != want {
			t.Errorf("probe %s: sampled processes and sampling %q, want %q", p.GetName(), got, want)
		}
	}
}
