package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/cgroups"
	"github.com/orb8/orb8/internal/probes/process"
	"github.com/orb8/orb8/internal/testutil"
)

// TestCgroupV1Mode is a legacy host on this hybrid one: processes whose
// unified cgroup is the root and whose memory cgroup is a pod container's.
// In v1 mode the agent names them by that memory cgroup: its path, id,
// container id and pod UID, in events, listings and status.
func TestCgroupV1Mode(t *testing.T) {
	testutil.RequireRoot(t)
	h, err := cgroup.FindHierarchy(cgroup.HierarchyV1)
	if err != nil {
		t.Skipf("no cgroup v1 memory hierarchy here: %v", err)
	}
	unified, err := cgroup.FindMount()
	if err != nil {
		t.Skipf("no unified hierarchy to hold the processes' root: %v", err)
	}
	const (
		cid = "7e2c9a0b5d8f4e1a3c6b9d2e5f8a1b4c7d0e3f6a9b2c5d8e1f4a7b0c3d6e9f2a"
		uid = "5a4c3b2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
	)
	top := fmt.Sprintf("orb8-test-v1-%d", os.Getpid())
	rel := filepath.Join(top, "kubepods/burstable/pod"+uid, cid)
	leaf := filepath.Join(h.Root, rel)
	if err := os.MkdirAll(leaf, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for dir := leaf; dir != h.Root; dir = filepath.Dir(dir) {
			os.Remove(dir)
		}
	})
	var st syscall.Stat_t
	if err := syscall.Stat(leaf, &st); err != nil {
		t.Fatal(err)
	}

	a, c := serveAPIOn(t, cgroup.HierarchyV1, func(r *cgroup.Resolver) []probe.Probe {
		return []probe.Probe{cgroups.New(r), process.New()}
	})
	if a.hierarchy.Name() != "v1-memory" || a.resolver.Root() != h.Root {
		t.Fatalf("agent hierarchy %+v, want v1 at %s", a.hierarchy, h.Root)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	execs := make(chan *pb.Workload, 64)
	go c.Watch(ctx, &pb.WatchEventsRequest{Kinds: []string{events.KindExec}, Filter: &pb.WorkloadFilter{Cgroup: "/" + top + "/"}},
		func(msg *pb.WatchEventsResponse) error {
			if e := msg.GetEvent(); e != nil {
				execs <- e.GetWorkload()
			}
			return nil
		})
	untilStreaming(t, c)

	// Each shell moves itself into the unified root and the v1 cgroup, then
	// execs: that exec is the one event of the cgroup.
	const runs = 3
	for range runs {
		script := fmt.Sprintf("echo $$ > %s/cgroup.procs && echo $$ > %s/cgroup.procs && exec /bin/true",
			unified, leaf)
		if out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput(); err != nil {
			t.Fatalf("run in %s: %v: %s", leaf, err, out)
		}
	}
	want := "/" + rel
	for i := range runs {
		select {
		case w := <-execs:
			if w.GetCgroup() != want || w.GetCgroupId() != st.Ino || w.GetContainerId() != cid || w.GetPodUid() != uid {
				t.Errorf("exec %d: %v\nwant cgroup %s (%d), container %s, pod %s", i, w, want, st.Ino, cid, uid)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d exec events in the v1 cgroup, want %d", i, runs)
		}
	}
	select {
	case w := <-execs:
		t.Errorf("an exec event more than the %d caused: %v", runs, w)
	case <-time.After(300 * time.Millisecond):
	}

	var ws []*pb.WorkloadFigures
	testutil.Eventually(t, 3*time.Second, func() bool {
		ws, err = c.Workloads(context.Background(), &pb.ListWorkloadsRequest{Filter: &pb.WorkloadFilter{Cgroup: want}})
		return err == nil && len(ws) == 1
	}, "workloads of %s: %v, %v", want, ws, err)
	if w := ws[0].GetWorkload(); w.GetCgroupId() != st.Ino || w.GetContainerId() != cid || w.GetPodUid() != uid {
		t.Errorf("workload listing: %v", w)
	}
	statuses, err := c.Statuses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if status := statuses[0]; status.GetCgroupHierarchy() != "v1-memory" || status.GetCgroupRoot() != h.Root {
		t.Errorf("status says cgroups %q at %q, want v1-memory at %s", status.GetCgroupHierarchy(), status.GetCgroupRoot(), h.Root)
	}
}
