package agent

import (
	"context"
	"strings"
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

// The standalone agent (no Kubernetes API) reads a workload's identity from
// its cgroup path alone: exec events and the workload listing of cgroups
// shaped like each runtime's and driver's layout carry the container id,
// pod UID and runtime that runtime meant. Layouts that only exist at the
// top of the hierarchy (Talos, LXC) are covered by cgroup.TestParsePath.
func TestIdentityFromEveryLayout(t *testing.T) {
	const (
		cid  = "4a6b8ee1c0d6b2a1c9e2bd8f7a8c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c"
		cid2 = "d4a9f9195eaf7e4a729f24151101e1de61f1398677e7b82acfb936dff0b4ce55"
		uid  = "6c2e8d1a-7b3f-4e9a-a5d0-1f2b3c4d5e6f"
		uid2 = "4ed02c0b-0df8-4d14-a30e-fd589ee4143a"
		hash = "3e61c214bc3ed9ff81e21474dd6cba17"
	)
	u := func(s string) string { return strings.ReplaceAll(s, "-", "_") }
	_, c := serveAPI(t, func(r *cgroup.Resolver) []probe.Probe { return []probe.Probe{cgroups.New(r), process.New()} })
	top := testutil.NewCgroup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	execs := make(chan *pb.Workload, 64)
	go c.Watch(ctx, &pb.WatchEventsRequest{Kinds: []string{events.KindExec}, Filter: &pb.WorkloadFilter{Cgroup: top.Path + "/"}},
		func(msg *pb.WatchEventsResponse) error {
			if e := msg.GetEvent(); e != nil {
				execs <- e.GetWorkload()
			}
			return nil
		})
	untilStreaming(t, c)
	for _, tc := range []struct {
		name, rel                     string
		container, pod, runtime, unit string
	}{
		{"cgroupfs containerd", "kubepods/besteffort/pod" + uid + "/" + cid, cid, uid, "", ""},
		{"cgroupfs cri-o", "kubepods/pod" + uid + "/crio-" + cid, cid, uid, "cri-o", ""},
		{"cgroupfs static pod", "kubepods/burstable/pod" + hash + "/" + cid, cid, hash, "", ""},
		{"systemd containerd", "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + u(uid) + ".slice/cri-containerd-" + cid + ".scope", cid, uid, "containerd", ""},
		{"systemd containerd without scope", "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + u(uid) + ".slice/cri-containerd-" + cid, cid, uid, "containerd", ""},
		{"systemd static pod", "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + hash + ".slice/cri-containerd-" + cid, cid, hash, "containerd", ""},
		{"systemd cri-o", "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + u(uid) + ".slice/crio-" + cid + ".scope", cid, uid, "cri-o", ""},
		{"systemd docker", "kubepods.slice/kubepods-pod" + u(uid) + ".slice/docker-" + cid + ".scope", cid, uid, "docker", ""},
		{"containerd pod slice:runtime:id", "containerd.service/kubepods-burstable-pod" + u(uid2) + ".slice:cri-containerd:" + cid2, cid2, uid2, "containerd", ""},
		{"kind node's pod", "docker-" + cid2 + ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + u(uid) + ".slice/cri-containerd-" + cid + ".scope", cid, uid, "containerd", ""},
		{"k3d node's pod", "docker/" + cid2 + "/kubepods/besteffort/pod" + uid + "/" + cid, cid, uid, "", ""},
		{"nested pod spoof stays the outer container's", "kubepods/besteffort/pod" + uid + "/" + cid + "/kubepods/besteffort/pod" + uid2 + "/" + cid2, cid, uid, "", ""},
		{"docker", "docker-" + cid + ".scope", cid, "", "docker", ""},
		{"podman", "libpod-" + cid + ".scope", cid, "", "podman", ""},
		{"systemd service", `system-serial\x2dgetty.slice/serial-getty@ttyS9.service`, "", "", "systemd", "serial-getty@ttyS9.service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf := top.Child(t, tc.rel)
			leaf.Run(t, "/bin/true")
			var w *pb.Workload
			select {
			case w = <-execs:
			case <-time.After(5 * time.Second):
				t.Fatal("no exec event")
			}
			check := func(where string, w *pb.Workload) {
				if w.GetCgroup() != leaf.Path || w.GetCgroupId() != leaf.ID || w.GetContainerId() != tc.container ||
					w.GetPodUid() != tc.pod || w.GetRuntime() != tc.runtime || w.GetUnit() != tc.unit {
					t.Errorf("%s: %v\nwant cgroup %s (%d), container %q, pod %q, runtime %q, unit %q",
						where, w, leaf.Path, leaf.ID, tc.container, tc.pod, tc.runtime, tc.unit)
				}
			}
			check("exec event", w)
			// Answers read metrics gathered at most a second ago.
			var ws []*pb.WorkloadFigures
			var err error
			testutil.Eventually(t, 3*time.Second, func() bool {
				ws, err = c.Workloads(context.Background(), &pb.ListWorkloadsRequest{Filter: &pb.WorkloadFilter{Cgroup: leaf.Path}})
				return err == nil && len(ws) == 1
			}, "workloads of %s: %v, %v", leaf.Path, ws, err)
			check("workload listing", ws[0].GetWorkload())
		})
	}
}
