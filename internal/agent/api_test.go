package agent

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/cgroups"
	"github.com/orb8/orb8/internal/probes/process"
	"github.com/orb8/orb8/internal/probes/syscalls"
	"github.com/orb8/orb8/internal/testutil"
)

// serveAPI starts an agent with the given probes and its gRPC API on a free
// loopback port, and returns a client of it.
func serveAPI(t *testing.T, probes func(*cgroup.Resolver) []probe.Probe) (*Agent, *apiclient.Agent) {
	t.Helper()
	return serveAPIOn(t, cgroup.HierarchyUnified, probes)
}

// serveAPIOn is serveAPI with workloads named by the hierarchy of mode.
func serveAPIOn(t *testing.T, mode string, probes func(*cgroup.Resolver) []probe.Probe) (*Agent, *apiclient.Agent) {
	t.Helper()
	testutil.RequireRoot(t)
	h, err := cgroup.FindHierarchy(mode)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cgroup.NewResolver(h.Root, maxWorkloads)
	if err != nil {
		t.Fatal(err)
	}
	a := NewWithProbes(config.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)), res, probes(res))
	a.hierarchy = h
	a.Start(context.Background())
	t.Cleanup(func() { probe.UseCgroupV1(false) })
	x, err := a.ListenAPI(testutil.Socket(t))
	if err != nil {
		t.Fatal(err)
	}
	go x.Serve()
	c, err := apiclient.Dial(context.Background(), x.Addrs()[0], apiclient.TLS{}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		x.Close()
		a.Close()
	})
	return a, c
}

func TestTraceSyscallStreamsOneWorkloadOnDemand(t *testing.T) {
	a, c := serveAPI(t, func(r *cgroup.Resolver) []probe.Probe {
		return []probe.Probe{cgroups.New(r), process.New(), syscalls.New(syscalls.DefaultOptions())}
	})
	cg := testutil.NewCgroup(t)
	// A pod exists before someone traces it: wait until the agent knows the cgroup.
	testutil.Eventually(t, 2*time.Second, func() bool {
		return len(a.Resolver().Matching(func(w *cgroup.Workload) bool { return w.Path == cg.Path })) == 1
	}, "the agent never learned %s", cg.Path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu     sync.Mutex
		execve int
		other  int // events of another cgroup: must be none
	)
	watching := make(chan error, 1)
	go func() {
		watching <- c.Watch(ctx, &pb.WatchEventsRequest{Kinds: []string{"syscall"}, Filter: &pb.WorkloadFilter{Cgroup: cg.Path}},
			func(msg *pb.WatchEventsResponse) error {
				e := msg.GetEvent()
				if e == nil {
					return nil
				}
				mu.Lock()
				defer mu.Unlock()
				if e.GetWorkload().GetCgroup() != cg.Path {
					other++
				}
				if e.GetAttributes().GetFields()["syscall"].GetStructValue().GetFields()["name"].GetStringValue() == "execve" {
					execve++
				}
				return nil
			})
	}()
	time.Sleep(300 * time.Millisecond) // the stream is set up before the process runs
	select {
	case err := <-watching:
		t.Fatalf("watch ended: %v", err)
	default:
	}
	cg.Run(t, "/bin/true")
	testutil.Eventually(t, 3*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return execve == 1 }, "execve syscall events never reached 1")
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	if execve != 1 || other != 0 {
		t.Errorf("%d execve events (want 1), %d events of other cgroups (want 0)", execve, other)
	}
	mu.Unlock()
	cancel()
	<-watching
}

func TestTraceSyscallNeedsAWorkloadAndTheProbe(t *testing.T) {
	_, with := serveAPI(t, func(r *cgroup.Resolver) []probe.Probe {
		return []probe.Probe{cgroups.New(r), syscalls.New(syscalls.DefaultOptions())}
	})
	_, without := serveAPI(t, func(r *cgroup.Resolver) []probe.Probe { return []probe.Probe{cgroups.New(r)} })
	for _, tt := range []struct {
		c      *apiclient.Agent
		filter *pb.WorkloadFilter
		want   string
	}{
		{with, nil, "needs a workload"},
		{with, &pb.WorkloadFilter{Cgroup: "/no/such/cgroup-orb8"}, "no workload matches"},
		{without, &pb.WorkloadFilter{Cgroup: "/"}, "--probes default,syscalls"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := tt.c.Watch(ctx, &pb.WatchEventsRequest{Kinds: []string{"syscall"}, Filter: tt.filter}, func(*pb.WatchEventsResponse) error { return nil })
		cancel()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("filter %v: err = %v, want %q", tt.filter, err, tt.want)
		}
	}
}

// untilStreaming waits for the agent to serve an event stream: with an
// audit trail (--audit-trail) the bus wants exec events from the start, so
// that it wants them says nothing of a client's stream.
func untilStreaming(t *testing.T, c *apiclient.Agent) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, func() bool {
		st, err := c.Statuses(context.Background())
		return err == nil && len(st) == 1 && st[0].GetApiStreams() > 0
	}, "the exec stream never opened")
}

// The audit trail is opt-in: without --audit-trail an agent serving its
// API leaves the kernel's exec gate closed (nobody wants exec events), so
// an exec storm costs the node what it costs with no client; with it, the
// trail follows execs and connections from the start.
func TestAuditTrailOnlyWithTheFlag(t *testing.T) {
	testutil.RequireRoot(t)
	for _, on := range []bool{false, true} {
		cfg := config.Default()
		cfg.AuditTrail = on
		a := NewWithProbes(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), testutil.Resolver(t), []probe.Probe{process.New()})
		a.Start(context.Background())
		x, err := a.ListenAPI(testutil.Socket(t))
		if err != nil {
			a.Close()
			t.Fatal(err)
		}
		for _, kind := range []string{events.KindExec, events.KindTCP} {
			if got := a.bus.Wants(kind); got != on {
				t.Errorf("--audit-trail=%v: the bus wants %s events: %v", on, kind, got)
			}
		}
		if got := a.trailed.Load(); got != on {
			t.Errorf("--audit-trail=%v: new peers bypass load shedding: %v", on, got)
		}
		x.Close()
		a.Close()
	}
}
