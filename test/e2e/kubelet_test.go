//go:build e2e

package e2e

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestClusterKubeletRequiresAuthentication: the kubelet's API answers no
// anonymous caller and no token without rights on the node; the API server,
// with its client certificate, still reaches it for kubectl logs and exec.
func TestClusterKubeletRequiresAuthentication(t *testing.T) {
	c := newCluster(t)
	ns := c.namespace()
	node, err := c.client.CoreV1().Nodes().Get(t.Context(), c.agent.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("https://%s:%d/pods", c.agent.Status.HostIP, node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	ca, err := os.ReadFile(filepath.Join(cmp.Or(os.Getenv("ORB8_CLUSTER_DIR"), "/var/lib/orb8-cluster"), "pki/ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		t.Fatal("no certificate in the cluster CA file")
	}
	// The kubelet's serving certificate is checked too: the API server does the same.
	kubelet := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	get := func(token string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := kubelet.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(""); code != http.StatusUnauthorized {
		t.Errorf("anonymous GET %s: %d, want 401", url, code)
	}
	sa, err := c.client.CoreV1().ServiceAccounts(ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.client.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), sa.Name, &authnv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if code := get(tok.Status.Token); code != http.StatusForbidden {
		t.Errorf("GET %s as a ServiceAccount without nodes/proxy: %d, want 403", url, code)
	}

	zero := int64(0)
	pod, err := c.client.CoreV1().Pods(ns).Create(t.Context(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "talker"},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &zero, Containers: []corev1.Container{{
			Name: "talker", Image: "docker.io/library/busybox:orb8", ImagePullPolicy: corev1.PullNever,
			Command: []string{"/bin/busybox", "sh", "-c", "echo orb8-log-line; exec /bin/busybox sleep 3600"},
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.eventually(time.Minute, "pod talker running", func() bool {
		pod, err = c.client.CoreV1().Pods(ns).Get(t.Context(), pod.Name, metav1.GetOptions{})
		return err == nil && pod.Status.Phase == corev1.PodRunning
	})
	kubectl := filepath.Join(k8sBinDir(t), "kubectl")
	run := func(args ...string) (string, error) {
		out, err := exec.CommandContext(t.Context(), kubectl, append([]string{"-n", ns}, args...)...).CombinedOutput()
		return string(out), err
	}
	var logs string
	c.eventually(30*time.Second, "kubectl logs", func() bool {
		logs, err = run("logs", "talker")
		return err == nil && strings.Contains(logs, "orb8-log-line")
	})
	if out, err := run("exec", "talker", "--", "/bin/busybox", "echo", "orb8-exec"); err != nil || strings.TrimSpace(out) != "orb8-exec" {
		t.Errorf("kubectl exec: %q, %v; want orb8-exec", out, err)
	}
}

// k8sBinDir is where hack/lib/k8s-binaries.sh keeps the cluster's binaries.
func k8sBinDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("../../hack/lib/k8s-binaries.sh").Output()
	if err != nil {
		t.Fatalf("hack/lib/k8s-binaries.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}
