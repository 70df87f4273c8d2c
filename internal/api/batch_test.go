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
	b := backend(t)
	svc := api.NewService(b)
	conn, err := grpc.NewClient(listenLocal(t, svc), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const bursts, perBurst = 20, 50
	for _, batch := range []bool{true, false} {
		ctx, cancel := context.WithCancel(context.Background())
		st, err := pb.NewAgentClient(conn).WatchEvents(ctx, &pb.WatchEventsRequest{Kinds: []string{events.KindExec}, Batch: batch})
		if err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 5*time.Second, func() bool { open, _, _ := svc.StreamStats(); return open == 1 }, "the stream never opened")
		go func() {
			for i := range bursts * perBurst {
				b.Events.Publish(events.Event{Kind: events.KindExec, Workload: web, Process: events.Process{PID: uint32(i)}, Exec: &events.Exec{Filename: "/bin/true"}})
				if i%perBurst == perBurst-1 {
					time.Sleep(5 * time.Millisecond) // runs, not more than the stream buffer holds
				}
			}
		}()
		var got, messages, batches int
		for got < bursts*perBurst {
			msg, err := st.Recv()
			if err != nil {
				t.Fatalf("batch %v: after %d events: %v", batch, got, err)
			}
			messages++
			evs := []*pb.Event{msg.GetEvent()}
			if bt := msg.GetBatch(); bt != nil {
				batches++
				evs = bt.GetEvents()
			}
			for _, e := range evs {
				if e.GetProcess().GetPid() != uint32(got) || e.GetExec().GetFilename() != "/bin/true" {
					t.Fatalf("batch %v: event %d is pid %d (%q)", batch, got, e.GetProcess().GetPid(), e.GetExec().GetFilename())
				}
				got++
			}
		}
		if _, dropped, _ := svc.StreamStats(); dropped != 0 {
			t.Errorf("batch %v: %d events dropped", batch, dropped)
		}
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
