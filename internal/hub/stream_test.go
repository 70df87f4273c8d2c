package hub_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/testutil"
)

// A client that asks the hub for batches gets its merged events in batch
// messages, as from an agent; one that does not gets an event a message.
// Both see the test cgroup's execs from each member.
func TestHubStreamsEventsInBatchesWhenAsked(t *testing.T) {
	testutil.RequireRoot(t)
	conn, err := grpc.NewClient(startFleet(t).hubAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cg := testutil.NewCgroup(t)
	for _, batch := range []bool{true, false} {
		ctx, cancel := context.WithCancel(t.Context())
		st, err := pb.NewAgentClient(conn).WatchEvents(ctx, &pb.WatchEventsRequest{
			Kinds: []string{"exec"}, Filter: &pb.WorkloadFilter{Cgroup: cg.Path}, Batch: batch})
		if err != nil {
			t.Fatal(err)
		}
		msgs := make(chan *pb.WatchEventsResponse, 100)
		go func() {
			defer close(msgs)
			for {
				msg, err := st.Recv()
				if err != nil {
					return
				}
				msgs <- msg
			}
		}()
		// Execs until both members' streams carried some: the hub opens
		// them after the call.
		perMember := map[string]int{}
		batches, singles := 0, 0
		deadline := time.Now().Add(30 * time.Second)
		for perMember["a"] < 3 || perMember["b"] < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("batch %v: after 30 s of execs %v per member", batch, perMember)
			}
			cg.Run(t, "/bin/true")
			for wait := time.After(50 * time.Millisecond); ; {
				var msg *pb.WatchEventsResponse
				select {
				case msg = <-msgs:
				case <-wait:
				}
				if msg == nil {
					break
				}
				evs := msg.GetBatch().GetEvents()
				switch {
				case msg.GetBatch() != nil:
					batches++
				case msg.GetEvent() != nil:
					singles++
					evs = []*pb.Event{msg.GetEvent()}
				}
				for _, e := range evs {
					if e.GetWorkload().GetCgroup() != cg.Path {
						t.Fatalf("batch %v: an event of %q", batch, e.GetWorkload().GetCgroup())
					}
					perMember[e.GetWorkload().GetCluster()]++
				}
			}
		}
		cancel()
		if batch && (batches == 0 || singles != 0) || !batch && (batches != 0 || singles == 0) {
			t.Errorf("batch %v: %d batch messages, %d single events (%v per member)", batch, batches, singles, perMember)
		}
		t.Logf("batch %v: %v events per member in %d batches and %d single messages", batch, perMember, batches, singles)
	}
}
