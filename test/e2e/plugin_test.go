//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestClusterKubectlPlugin runs orb8 as kubectl runs a plugin: the real
// kubectl finds kubectl-orb8 on PATH, and the plugin asks every agent of the
// cluster (port forwarding, TLS, the kubeconfig's own credentials) for the
// kubeconfig context's namespace by default, -n's when given, and every
// namespace with -A.
func TestClusterKubectlPlugin(t *testing.T) {
	c := newCluster(t)
	ns := c.namespace()
	c.release(c.busybox(ns, "idle", "exec /bin/busybox sleep 3600", corev1.RestartPolicyNever),
		map[string]string{"namespace": ns, "pod": "idle", "container": "idle"})
	dir := filepath.Dir(orb8Binary(t))
	if err := os.Symlink("orb8", filepath.Join(dir, "kubectl-orb8")); err != nil {
		t.Fatal(err)
	}
	// A copy of the cluster's kubeconfig whose current context names ns.
	kubeconfig := filepath.Join(dir, "kubeconfig")
	raw, err := os.ReadFile(os.Getenv("KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kubeconfig, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "KUBECONFIG="+kubeconfig, "PATH="+dir+string(filepath.ListSeparator)+kubectlDir(t)+string(filepath.ListSeparator)+os.Getenv("PATH"))
	// kubectl returns what the command printed on stdout; stderr comes with
	// a failure.
	kubectl := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(kubectlDir(t), "kubectl"), args...)
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			err = fmt.Errorf("%w: %s", err, stderr.String())
		}
		return string(out), err
	}
	if out, err := kubectl("config", "set-context", "--current", "--namespace", ns); err != nil {
		t.Fatalf("kubectl config set-context: %v\n%s", err, out)
	}
	if out, err := kubectl("plugin", "list"); err != nil || !strings.Contains(out, "kubectl-orb8") {
		t.Fatalf("kubectl plugin list does not find kubectl-orb8: %v\n%s", err, out)
	}

	// namespaces runs kubectl orb8 workloads and returns the namespaces of
	// its rows, and whether pod idle of ns is among them.
	var last string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last output of kubectl orb8 workloads:\n%s", last)
		}
	})
	namespaces := func(args ...string) ([]string, bool) {
		out, err := kubectl(append([]string{"orb8", "workloads", "-o", "json"}, args...)...)
		last = out
		if err != nil {
			return nil, false
		}
		var seen []string
		idle := false
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var row struct {
				Workload struct{ Namespace, Pod, Container string }
			}
			if json.Unmarshal([]byte(line), &row) != nil {
				return nil, false
			}
			w := row.Workload
			if !slices.Contains(seen, w.Namespace) {
				seen = append(seen, w.Namespace)
			}
			idle = idle || w.Namespace == ns && w.Pod == "idle" && w.Container == "idle"
		}
		slices.Sort(seen)
		return seen, idle
	}
	c.eventually(time.Minute, "kubectl orb8 workloads shows the context's namespace only", func() bool {
		seen, idle := namespaces()
		return idle && slices.Equal(seen, []string{ns})
	})
	if seen, idle := namespaces("-n", agentNamespace); idle || !slices.Equal(seen, []string{agentNamespace}) {
		t.Errorf("kubectl orb8 workloads -n %s: namespaces %q (pod idle seen: %v), want only %s", agentNamespace, seen, idle, agentNamespace)
	}
	if seen, idle := namespaces("-A"); !idle || !slices.Contains(seen, agentNamespace) || !slices.Contains(seen, "") {
		t.Errorf("kubectl orb8 workloads -A: namespaces %q (pod idle seen: %v), want %s, %s and the node's own cgroups (\"\")", seen, idle, ns, agentNamespace)
	}
}

// orb8Binary builds orb8 from the working tree into a directory of its own
// and returns its path.
func orb8Binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "orb8")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/orb8").CombinedOutput(); err != nil {
		t.Fatalf("build orb8: %v\n%s", err, out)
	}
	return bin
}
