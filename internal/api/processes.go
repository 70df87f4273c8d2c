package api

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// maxProcesses bounds one ListProcesses answer.
const maxProcesses = 4096

// ListProcesses implements pb.AgentServer: the processes in a cgroup now,
// from cgroup.procs and /proc. It is read on demand for one workload.
func (s *Service) ListProcesses(ctx context.Context, req *pb.ListProcessesRequest) (*pb.ListProcessesResponse, error) {
	cg := req.GetCgroup()
	if len(cg) > maxCgroupPath || !strings.HasPrefix(cg, "/") || path.Clean(cg) != cg || strings.Contains(cg, "/..") {
		return nil, status.Errorf(codes.InvalidArgument, "cgroup %q: want a clean path starting with /", cg)
	}
	// The workload's namespace decides; a cgroup the agent does not know is
	// the node's.
	var namespace string
	if s.b.Workload != nil {
		if w, ok := s.b.Workload(cg); ok {
			namespace = w.Namespace
		}
	}
	if scope := scopeOf(ctx); !scope.Namespace(namespace) {
		return nil, denied(scope)
	}
	if s.b.CgroupRoot == "" {
		return nil, status.Error(codes.Unavailable, "this agent does not know its cgroup2 mount")
	}
	data, err := os.ReadFile(filepath.Join(s.b.CgroupRoot, cg, "cgroup.procs"))
	if os.IsNotExist(err) { // a removed cgroup has no processes
		return &pb.ListProcessesResponse{}, nil
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read %s: %v", cg, err)
	}
	resp := &pb.ListProcessesResponse{}
	for _, field := range strings.Fields(string(data)) {
		pid, err := strconv.ParseUint(field, 10, 32)
		if err != nil {
			continue
		}
		if p, ok := readProcess(uint32(pid)); ok {
			resp.Processes = append(resp.Processes, p)
		}
		if len(resp.Processes) == maxProcesses {
			break
		}
	}
	return resp, nil
}

// readProcess reads name, parent and real uid from /proc/<pid>/status; a
// process that exited meanwhile is skipped.
func readProcess(pid uint32) (*pb.Process, bool) {
	data, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/status")
	if err != nil {
		return nil, false
	}
	p := &pb.Process{Pid: pid}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		switch key {
		case "Name":
			p.Comm = strings.TrimSpace(value)
		case "PPid":
			n, _ := strconv.ParseUint(fields[0], 10, 32)
			p.Ppid = uint32(n)
		case "Uid":
			n, _ := strconv.ParseUint(fields[0], 10, 32)
			p.Uid = uint32(n)
		}
	}
	return p, true
}
