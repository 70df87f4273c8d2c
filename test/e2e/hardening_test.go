//go:build e2e

package e2e

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// The capabilities the chart grants, and the probes that must come up with
// them under the runtime's default seccomp profile on this kernel (nvml needs
// an NVIDIA driver).
var (
	agentCaps     = map[string]uint{"BPF": unix.CAP_BPF, "PERFMON": unix.CAP_PERFMON, "NET_ADMIN": unix.CAP_NET_ADMIN, "SYS_PTRACE": unix.CAP_SYS_PTRACE}
	confinedProbe = []string{"cgroup", "process", "sched", "cuda", "dns", "network", "memory", "fds"}
)

// TestClusterAgentIsConfined: the agent pod as the API server and the node's
// kernel see it: the runtime's default seccomp filter in force, no privilege
// escalation, exactly the chart's capabilities (no DAC_READ_SEARCH), tracefs
// mounted read-only, the system-node-critical priority, AppArmor where the
// node has it; and under all that, every probe this kernel offers is up.
func TestClusterAgentIsConfined(t *testing.T) {
	c := newCluster(t)
	spec := c.agent.Spec
	if spec.PriorityClassName != "system-node-critical" || spec.Priority == nil || *spec.Priority != 2000001000 {
		t.Errorf("priority class %q (priority %v), want system-node-critical (2000001000)", spec.PriorityClassName, spec.Priority)
	}
	sc := spec.Containers[0].SecurityContext
	if sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("agent container seccomp profile: %+v, want RuntimeDefault", sc)
	}
	var added []string
	if sc != nil && sc.Capabilities != nil {
		for _, cp := range sc.Capabilities.Add {
			added = append(added, string(cp))
		}
	}
	if slices.Sort(added); !slices.Equal(added, slices.Sorted(maps.Keys(agentCaps))) {
		t.Errorf("agent container adds capabilities %v, want %v", added, slices.Sorted(maps.Keys(agentCaps)))
	}

	proc := c.agentProc()
	status := procFields(t, filepath.Join(proc, "status"))
	if status["Seccomp"] != "2" || status["NoNewPrivs"] != "1" {
		t.Errorf("agent process: Seccomp %q, NoNewPrivs %q; want 2 (filter) and 1", status["Seccomp"], status["NoNewPrivs"])
	}
	var want uint64
	for _, bit := range agentCaps {
		want |= 1 << bit
	}
	if eff, err := strconv.ParseUint(status["CapEff"], 16, 64); err != nil || eff != want {
		t.Errorf("agent process CapEff %s, want %016x (%v)", status["CapEff"], want, agentCaps)
	}
	if opts := mountOptions(t, proc, "/sys/kernel/tracing"); !slices.Contains(opts, "ro") {
		t.Errorf("tracefs mounted in the agent with options %v, want ro", opts)
	}

	enabled, _ := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	if bytes.HasPrefix(enabled, []byte("Y")) {
		// hack/cluster.sh deploy asks for RuntimeDefault where the node has AppArmor.
		current, _ := os.ReadFile(filepath.Join(proc, "attr/apparmor/current"))
		if sc.AppArmorProfile == nil || !bytes.HasPrefix(current, []byte("cri-containerd.apparmor.d")) {
			t.Errorf("AppArmor node: agent profile %+v, process confined by %q; want containerd's default", sc.AppArmorProfile, current)
		}
	} else {
		t.Log("the node has no AppArmor: the chart's appArmorProfile stays unset")
		if sc.AppArmorProfile != nil {
			t.Errorf("agent asks for AppArmor %+v on a node without it", sc.AppArmorProfile)
		}
	}

	fams := c.metrics()
	for _, p := range confinedProbe {
		if v, ok := findSample(fams, "orb8_probe_up", map[string]string{"probe": p}); !ok || v != 1 {
			t.Errorf("orb8_probe_up{probe=%q} = %v (present %v) under the confined agent, want 1", p, v, ok)
		}
	}
	// Not degraded: its cgroup iterator names unseen ids without DAC_READ_SEARCH.
	logs, err := c.client.CoreV1().Pods(agentNamespace).GetLogs(c.agent.Name, &corev1.PodLogOptions{}).DoRaw(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(logs, []byte(`msg="probe up" probe=cgroup degraded=0`)) {
		t.Errorf("the cgroup probe did not come up whole; agent log:\n%s", logs)
	}
}

// agentProc is the /proc directory of the agent's orb8 process.
func (c *cluster) agentProc() string {
	c.t.Helper()
	for _, dir := range podProcs(c.agent) {
		if comm, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil && strings.TrimSpace(string(comm)) == "orb8" {
			return dir
		}
	}
	c.t.Fatalf("no orb8 process in pod %s", c.agent.Name)
	return ""
}

// procFields reads a "Key:\tvalue" file such as /proc/<pid>/status.
func procFields(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	return fields
}

// mountOptions returns the per-mount options of the mount at target in the
// mount namespace of the process at proc.
func mountOptions(t *testing.T, proc, target string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(proc, "mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	var opts []string // the last mount at target is the visible one
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == target {
			opts = strings.Split(f[5], ",")
		}
	}
	if opts == nil {
		t.Fatalf("nothing mounted at %s in %s", target, proc)
	}
	return opts
}
