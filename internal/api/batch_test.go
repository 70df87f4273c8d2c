package api_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/testutil"
)

// A stream that asks for batches gets every event, in order, in fewer
// messages than events while they come in runs; one that does not ask (an
// older client) gets one event a message, as before.
func TestBatchedStreamsCarryEveryEventInOrder(t *testing.T) {
	svc, b, conn := batchService(t)
	const bursts, perBurst = 20, 50
	for _, batch := range []bool{true, false} {
		st, cancel := watchExecs(t, svc, conn, batch)
		go publishRuns(b, bursts, perBurst) // runs, not more than the stream buffer holds
		messages, batches := receiveInOrder(t, st, bursts*perBurst)
		if _, dropped, _ := svc.StreamStats(); dropped != 0 {
			t.Errorf("batch %v: %d events dropped", batch, dropped)
		}
		got := bursts * perBurst
		switch {
		case batch && (batches != messages || messages >= got/2):
			t.Errorf("batched: %d events in %d messages (%d batches)", got, messages, batches)
		case !batch && (batches != 0 || messages != got):
			t.Errorf("unbatched: %d events in %d messages (%d batches)", got, messages, batches)
		}
		t.Logf("batch %v: %d events in %d messages", batch, got, messages)
		cancel()
		testutil.Eventually(t, 5*time.Second, func() bool { open, _, _ := svc.StreamStats(); return open == 0 }, "the stream never closed")
	}
}

// While a run lasts, batches gather longer: 10 events every 5 ms for a
// second (2,000 a second, as an exec storm on a small node) go in fewer
// than 100 messages, where a fixed 4 ms linger sends one per burst (~200).
func TestBatchesGrowWhileARunLasts(t *testing.T) {
	svc, b, conn := batchService(t)
	const bursts, perBurst = 200, 10
	st, cancel := watchExecs(t, svc, conn, true)
	defer cancel()
	go publishRuns(b, bursts, perBurst)
	messages, _ := receiveInOrder(t, st, bursts*perBurst)
	if _, dropped, _ := svc.StreamStats(); dropped != 0 {
		t.Errorf("%d events dropped", dropped)
	}
	if messages >= 100 {
		t.Errorf("%d events in %d messages, want fewer than 100", bursts*perBurst, messages)
	}
	t.Logf("%d events in %d messages", bursts*perBurst, messages)
}

func batchService(t *testing.T) (*api.Service, *events.Bus, *grpc.ClientConn) {
	b := backend(t)
	svc := api.NewService(b)
	conn, err := grpc.NewClient(listenLocal(t, svc), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return svc, b.Events, conn
}

// watchExecs opens a stream of exec events and waits until the agent has it.
func watchExecs(t *testing.T, svc *api.Service, conn *grpc.ClientConn, batch bool) (grpc.ServerStreamingClient[pb.WatchEventsResponse], context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := pb.NewAgentClient(conn).WatchEvents(ctx, &pb.WatchEventsRequest{Kinds: []string{events.KindExec}, Batch: batch})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { open, _, _ := svc.StreamStats(); return open == 1 }, "the stream never opened")
	return st, cancel
}

// publishRuns publishes exec events of pids 0, 1, ... in bursts of
// perBurst, 5 ms apart.
func publishRuns(bus *events.Bus, bursts, perBurst int) {
	for i := range bursts * perBurst {
		bus.Publish(events.Event{Kind: events.KindExec, Workload: web, Process: events.Process{PID: uint32(i)}, Exec: &events.Exec{Filename: "/bin/true"}})
		if i%perBurst == perBurst-1 {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// receiveInOrder reads n events, failing unless they are pids 0..n-1 in
// order, and says in how many messages and batches they came.
func receiveInOrder(t *testing.T, st grpc.ServerStreamingClient[pb.WatchEventsResponse], n int) (messages, batches int) {
	t.Helper()
	for got := 0; got < n; {
		msg, err := st.Recv()
		if err != nil {
			t.Fatalf("after %d events: %v", got, err)
		}
		messages++
		evs := []*pb.Event{msg.GetEvent()}
		if bt := msg.GetBatch(); bt != nil {
			batches++
			evs = bt.GetEvents()
		}
		for _, e := range evs {
			if e.GetProcess().GetPid() != uint32(got) || e.GetExec().GetFilename() != "/bin/true" {
				t.Fatalf("event %d is pid %d (%q)", got, e.GetProcess().GetPid(), e.GetExec().GetFilename())
			}
			got++
		}
	}
	return messages, batches
}
