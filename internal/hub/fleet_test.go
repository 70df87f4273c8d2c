package hub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/encoded"
	"github.com/orb8/orb8/internal/testutil"
)

// fakeAgent answers as an agent of a node would, with a recorded answer:
// workloadsPerAgent pods with the process, network and memory figures. The
// answer is encoded once: a fake agent stands for a machine of its own,
// whose encoding is no cost of the hub's.
type fakeAgent struct {
	pb.UnimplementedAgentServer
	node      string
	workloads *encoded.Message
}

const workloadsPerAgent = 30

func newFakeAgent(node string) *fakeAgent {
	resp := &pb.ListWorkloadsResponse{Time: timestamppb.Now()}
	for i := range workloadsPerAgent {
		v := float64(i)
		resp.Workloads = append(resp.Workloads, &pb.WorkloadFigures{
			Workload: &pb.Workload{
				CgroupId: uint64(1000 + i), Node: node, Namespace: "shop", Pod: fmt.Sprintf("cart-%s-%d", node, i), Container: "app",
				Cgroup:      fmt.Sprintf("/kubepods.slice/kubepods-pod%08d.slice/cri-containerd-%064d.scope", i, i),
				ContainerId: fmt.Sprintf("%064d", i), PodUid: fmt.Sprintf("%08d-0000-0000-0000-000000000000", i), Runtime: "containerd",
			},
			ExecTotal: &v, ExitTotal: &v, ProcessesRunning: &v, NetworkTxBytesTotal: &v, NetworkRxBytesTotal: &v,
			TcpActiveConnections: &v, MemoryUsageBytes: &v, MemoryLimitBytes: &v, OpenFds: &v,
		})
	}
	b, err := proto.Marshal(resp)
	if err != nil {
		panic(err) // a message built here always encodes
	}
	return &fakeAgent{node: node, workloads: &encoded.Message{b}}
}

func (a *fakeAgent) GetStatus(context.Context, *pb.GetStatusRequest) (*pb.Status, error) {
	return &pb.Status{Node: a.node, Version: "fake"}, nil
}

func (a *fakeAgent) EncodedWorkloads(context.Context, *pb.ListWorkloadsRequest) (*encoded.Message, error) {
	return a.workloads, nil
}

// fakeFleet serves members x agents fake agents, each on a unix socket of
// its own (one gRPC server per agent, as agents are), and writes a hub
// configuration listing them.
func fakeFleet(t testing.TB, members, agents int) (config string) {
	dir, err := os.MkdirTemp("", "orb8-fleet")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var cfg strings.Builder
	cfg.WriteString("clusters:\n")
	for m := range members {
		fmt.Fprintf(&cfg, "- name: m%02d\n  timeout: 10s\n  agents:\n", m)
		for a := range agents {
			sock := filepath.Join(dir, fmt.Sprintf("%d-%d.sock", m, a))
			serveFakeAgent(t, sock, newFakeAgent(fmt.Sprintf("m%02d-node%03d", m, a)))
			fmt.Fprintf(&cfg, "  - unix://%s\n", sock)
		}
	}
	config = filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(config, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return config
}

// serveFakeAgent serves a fake agent's API on a unix socket at path until
// the test ends: a gRPC server of its own, as agents have.
func serveFakeAgent(t testing.TB, path string, a pb.AgentServer) {
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(encoded.Codec{}))
	encoded.RegisterAgent(srv, a)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
}

// startHub runs `orb8 hub` on config in a process of its own (its memory
// is then its own), and dials it.
func startHub(t testing.TB, config string) (*apiclient.Agent, *exec.Cmd) {
	sock := testutil.Socket(t)
	cmd := exec.Command(testutil.Binary(t), "hub", "--listen", sock, "--config", config)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	var c *apiclient.Agent
	testutil.Eventually(t, time.Minute, func() bool {
		var err error
		if c == nil {
			c, err = apiclient.Dial(context.Background(), sock, apiclient.TLS{}, time.Second)
		}
		if err != nil {
			return false
		}
		_, err = c.Statuses(context.Background())
		return err == nil || apiclient.IsPartial(err) // a member may be down
	}, "hub never answered; log:\n%s", &logs)
	t.Cleanup(func() { c.Close() })
	return c, cmd
}

// fleetQuery is one fleet-wide workloads query: how long it took and what
// it listed per member.
func fleetQuery(t testing.TB, c *apiclient.Agent) (time.Duration, map[string]int) {
	start := time.Now()
	ws, err := c.Workloads(context.Background(), &pb.ListWorkloadsRequest{})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("fleet-wide workloads: %v", err)
	}
	perMember := map[string]int{}
	for _, w := range ws {
		perMember[w.GetWorkload().GetCluster()]++
	}
	return took, perMember
}

// hubMemory is the hub's peak and current resident memory, in bytes.
func hubMemory(t testing.TB, pid int) (peak, now int64) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmHWM:":
			peak = kb << 10
		case "VmRSS:":
			now = kb << 10
		}
	}
	return peak, now
}

// hubCPU is the CPU time the hub has used, user and system.
func hubCPU(t testing.TB, pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command's closing parenthesis; utime and stime
	// are the 14th and 15th of the line, in clock ticks (USER_HZ, 100).
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// TestHubFleetSimulation is the short form of BenchmarkHubFleet: 5
// members of 20 fake agents; every agent's every workload is listed once,
// under its member.
func TestHubFleetSimulation(t *testing.T) {
	const members, agents = 5, 20
	c, _ := startHub(t, fakeFleet(t, members, agents))
	for range 3 {
		_, perMember := fleetQuery(t, c)
		if len(perMember) != members {
			t.Fatalf("workloads from %d members, want %d: %v", len(perMember), members, perMember)
		}
		for m, n := range perMember {
			if n != agents*workloadsPerAgent {
				t.Errorf("member %s: %d workloads, want %d", m, n, agents*workloadsPerAgent)
			}
		}
	}
}

// BenchmarkHubFleet: the hub (`orb8 hub`, a process of its own) in front
// of a simulated fleet of members x 100 fake agents (recorded answers of
// 30 workloads each, on unix sockets), asked for every workload of the
// fleet as `orb8 workloads --hub` asks: p50 and p99 of the query, the
// hub's peak resident memory, and its CPU time per query (which other
// processes on the machine do not change, as they change the wall time).
// 50 members is the fleet of 5,000 agents; the smaller ones show
// how the cost grows.
//
//	go test ./internal/hub -run '^$' -bench HubFleet -benchtime 50x
func BenchmarkHubFleet(b *testing.B) {
	for _, members := range []int{5, 20, 50} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			c, cmd := startHub(b, fakeFleet(b, members, 100))
			fleetQuery(b, c) // connections made
			var took []time.Duration
			cpu := hubCPU(b, cmd.Process.Pid)
			for b.Loop() {
				d, perMember := fleetQuery(b, c)
				if len(perMember) != members {
					b.Fatalf("workloads from %d members, want %d", len(perMember), members)
				}
				took = append(took, d)
			}
			cpu = hubCPU(b, cmd.Process.Pid) - cpu
			slices.Sort(took)
			peak, _ := hubMemory(b, cmd.Process.Pid)
			b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Milliseconds()), "p99-ms")
			b.ReportMetric(float64(peak)/1e6, "hub-peak-MB")
			b.ReportMetric(float64(cpu.Milliseconds())/float64(len(took)), "hub-cpu-ms/query")
			b.ReportMetric(float64(members*100*workloadsPerAgent), "workloads")
		})
	}
}

func (a *fakeAgent) ListAuditTrail(context.Context, *pb.ListAuditTrailRequest) (*pb.ListAuditTrailResponse, error) {
	return &pb.ListAuditTrailResponse{
		Records:  []*pb.AuditRecord{{Kind: "exec", Node: a.node, Workload: &pb.Workload{Namespace: "shop", Pod: "cart", Node: a.node}, Exec: &pb.ExecDetail{Path: "/bin/sh"}}},
		Coverage: []*pb.AuditCoverage{{Kind: "exec", Node: a.node, HeldSince: timestamppb.Now(), Capacity: 8192}},
	}, nil
}

// The hub serves its members' audit trails, each record with its member;
// one member alone with --cluster.
func TestHubServesAuditTrails(t *testing.T) {
	c, _ := startHub(t, fakeFleet(t, 2, 2))
	resp, err := c.AuditTrail(context.Background(), &pb.ListAuditTrailRequest{})
	if err != nil || len(resp.GetRecords()) != 4 || len(resp.GetCoverage()) != 4 {
		t.Fatalf("hub's trail: %v, %v; want a record and a coverage from each of 4 agents", resp, err)
	}
	members := map[string]int{}
	for _, r := range resp.GetRecords() {
		members[r.GetWorkload().GetCluster()]++
	}
	if members["m00"] != 2 || members["m01"] != 2 {
		t.Errorf("records by member %v", members)
	}
	one, err := c.AuditTrail(context.Background(), &pb.ListAuditTrailRequest{Filter: &pb.WorkloadFilter{Cluster: "m01"}})
	if err != nil || len(one.GetRecords()) != 2 || one.GetRecords()[0].GetWorkload().GetCluster() != "m01" {
		t.Errorf("member m01's trail: %v, %v", one, err)
	}
}

// The hub passes its agents' answers on at the wire level: every workload
// is listed once, with its member as its cluster exactly once (replacing
// one its agent set), a member that cannot be reached is named, and a
// limit keeps the first workloads in member and agent order.
func TestHubPassesWorkloadsThrough(t *testing.T) {
	dir := t.TempDir()
	var socks [2]string
	for i := range socks {
		a := newFakeAgent(fmt.Sprintf("node%d", i))
		if i == 1 { // an agent behind another hub: its workloads name a cluster
			var resp pb.ListWorkloadsResponse
			if err := proto.Unmarshal((*a.workloads)[0], &resp); err != nil {
				t.Fatal(err)
			}
			for _, w := range resp.Workloads {
				w.Workload.Cluster = "inner"
			}
			a = &fakeAgent{node: a.node, workloads: &encoded.Message{mustMarshal(t, &resp)}}
		}
		socks[i] = filepath.Join(dir, fmt.Sprintf("%d.sock", i))
		serveFakeAgent(t, socks[i], a)
	}
	config := filepath.Join(dir, "hub.yaml")
	writeHubConfig(t, config, fmt.Sprintf("clusters:\n- name: m0\n  agents: [unix://%s, unix://%s]\n  timeout: 5s\n"+
		"- name: gone\n  agents: [unix://%s/none.sock]\n  timeout: 1s\n", socks[0], socks[1], dir))
	c, _ := startHub(t, config)

	ws, err := c.Workloads(t.Context(), &pb.ListWorkloadsRequest{})
	var partial *apiclient.PartialError
	if !errors.As(err, &partial) || len(partial.Unanswered) != 1 || !strings.Contains(err.Error(), "cluster gone") {
		t.Errorf("fleet-wide workloads: %v; want a partial answer naming cluster gone alone", err)
	}
	seen := map[string]int{}
	for _, w := range ws {
		seen[w.GetWorkload().GetCluster()+" "+w.GetWorkload().GetPod()]++
	}
	if len(ws) != 2*workloadsPerAgent || len(seen) != len(ws) {
		t.Fatalf("%d workloads, %d distinct; want %d, each once", len(ws), len(seen), 2*workloadsPerAgent)
	}
	for i := range 2 {
		for j := range workloadsPerAgent {
			if k := fmt.Sprintf("m0 cart-node%d-%d", i, j); seen[k] != 1 {
				t.Errorf("%q listed %d times, want once", k, seen[k])
			}
		}
	}

	const limit = workloadsPerAgent + 5
	ws, _ = c.Workloads(t.Context(), &pb.ListWorkloadsRequest{Limit: limit})
	if len(ws) != limit {
		t.Fatalf("limit %d: %d workloads", limit, len(ws))
	}
	for i, w := range ws {
		if node := fmt.Sprintf("node%d", i/workloadsPerAgent); w.GetWorkload().GetNode() != node || w.GetWorkload().GetCluster() != "m0" {
			t.Errorf("limit %d: workload %d is %s of %s, want one of %s of m0", limit, i, w.GetWorkload().GetPod(), w.GetWorkload().GetCluster(), node)
		}
	}
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
