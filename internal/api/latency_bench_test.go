package api_test

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/process"
	"github.com/orb8/orb8/internal/testutil"
)

// BenchmarkExecToClient measures capture-to-client latency of exec events:
// from the kernel's timestamp at exec (bpf_ktime_get_boot_ns in the
// tracepoint) to the moment a gRPC client holds the event, through ring
// buffer, resolver, bus, API stream and the loopback network. Idle, and with
// 5,000 other process events per second streamed to a second client.
// Run: go test -run=^$ -bench=ExecToClient -benchtime=400x ./internal/api/
func BenchmarkExecToClient(b *testing.B) {
	b.Run("idle", func(b *testing.B) { benchExecToClient(b, 0) })
	b.Run("load=5000/s", func(b *testing.B) { benchExecToClient(b, 5000) })
}

func benchExecToClient(b *testing.B, loadRate int) {
	testutil.RequireRoot(b)
	addr, bus := startAgent(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var loadEvents atomic.Uint64
	if loadRate > 0 {
		loadCg := testutil.NewCgroup(b)
		stream(b, ctx, addr, &pb.WatchEventsRequest{}, func(*pb.Event) { loadEvents.Add(1) })
		bin := filepath.Join(b.TempDir(), "forkload")
		if out, err := exec.Command("gcc", "-O2", "-o", bin, "testdata/forkload.c").CombinedOutput(); err != nil {
			b.Fatalf("build forkload: %v: %s", err, out)
		}
		load := loadCg.Command(b, bin, strconv.Itoa(loadRate)) // each child publishes one exit event
		if err := load.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { load.Process.Kill(); load.Wait() })
		time.Sleep(500 * time.Millisecond)
	}

	cg := testutil.NewCgroup(b)
	var (
		latencies apiclient.Latencies
		atBus     apiclient.Latencies // capture to the agent's bus: the kernel and ring buffer share
	)
	sub := bus.Subscribe(1024, nil, func(e *events.Event) bool { return e.Kind == events.KindExec && e.Workload.Path == cg.Path })
	defer bus.Unsubscribe(sub)
	go func() {
		for e := range sub.C {
			atBus.Since(e.Time)
		}
	}()
	got := make(chan struct{}, 1)
	stream(b, ctx, addr, &pb.WatchEventsRequest{Kinds: []string{"exec"}, Filter: &pb.WorkloadFilter{Cgroup: cg.Path}},
		func(e *pb.Event) {
			latencies.Observe(e)
			got <- struct{}{}
		})

	loadStart, loadAt := loadEvents.Load(), time.Now()
	b.ResetTimer()
	for range b.N {
		cg.Run(b, "/bin/true")
		select {
		case <-got:
		case <-time.After(2 * time.Second):
			b.Fatal("exec event never reached the client")
		}
	}
	b.StopTimer()
	rate := float64(loadEvents.Load()-loadStart) / time.Since(loadAt).Seconds()
	µs := func(l *apiclient.Latencies, q float64) float64 { return float64(l.Quantile(q).Microseconds()) }
	b.ReportMetric(µs(&latencies, 0.5), "p50-µs")
	b.ReportMetric(µs(&latencies, 0.9), "p90-µs")
	b.ReportMetric(µs(&latencies, 0.99), "p99-µs")
	b.ReportMetric(µs(&atBus, 0.5), "bus-p50-µs")
	b.ReportMetric(µs(&atBus, 0.99), "bus-p99-µs")
	b.ReportMetric(rate, "load-events/s")
}

// stream watches the agent in the background, calling fn per event.
func stream(b *testing.B, ctx context.Context, addr string, req *pb.WatchEventsRequest, fn func(*pb.Event)) {
	c, err := apiclient.Dial(ctx, addr, apiclient.TLS{}, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	before := openStreams(b, c)
	go c.Watch(ctx, req, func(msg *pb.WatchEventsResponse) error {
		if e := msg.GetEvent(); e != nil {
			fn(e)
		}
		return nil
	})
	testutil.Eventually(b, 3*time.Second, func() bool { return openStreams(b, c) > before }, "stream did not open")
	b.Cleanup(func() { c.Close() })
}

func openStreams(b *testing.B, c apiclient.Client) uint32 {
	st, err := c.Statuses(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return st[0].GetApiStreams()
}

func startAgent(b *testing.B) (string, *events.Bus) {
	res := testutil.Resolver(b)
	a := agent.NewWithProbes(config.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)), res, []probe.Probe{process.New()})
	a.Start(context.Background())
	x, err := a.ListenAPI(testutil.Socket(b))
	if err != nil {
		b.Fatal(err)
	}
	go x.Serve()
	b.Cleanup(func() {
		x.Close()
		a.Close()
	})
	return x.Addrs()[0], a.Events()
}
