//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// orb8 workloads --all-nodes reaches every agent through the API server's port
// forwarding and names the cluster's pods.
func TestClusterAllNodesListsWorkloadsWithPodNames(t *testing.T) {
	c := newCluster(t)
	ns := c.namespace()
	c.release(c.busybox(ns, "idle", "exec /bin/busybox sleep 3600", corev1.RestartPolicyNever),
		map[string]string{"namespace": ns, "pod": "idle", "container": "idle"})
	bin := orb8Binary(t)
	var last string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last output of orb8 workloads --all-nodes:\n%s", last)
		}
	})
	c.eventually(time.Minute, "orb8 workloads --all-nodes names the pod", func() bool {
		out, err := exec.Command(bin, "workloads", "--all-nodes", "--kubeconfig", os.Getenv("KUBECONFIG"), "-n", ns, "-o", "json").CombinedOutput()
		last = string(out)
		if err != nil {
			return false
		}
		for _, line := range strings.Split(strings.TrimSpace(last), "\n") {
			var row struct {
				Workload struct{ Namespace, Pod, Container, Cgroup, Node string }
			}
			if json.Unmarshal([]byte(line), &row) != nil {
				return false
			}
			w := row.Workload
			if w.Namespace == ns && w.Pod == "idle" && w.Container == "idle" && strings.Contains(w.Cgroup, "kubepods") && w.Node != "" {
				return true
			}
		}
		return false
	})
}
