//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orb8/orb8/internal/compliance"
	"github.com/orb8/orb8/internal/testutil"
)

// outsideAddr is an address outside the cluster (TEST-NET-2, in no pod or
// Service range, not a node's address as Kubernetes knows it), put on the
// cluster's bridge (hack/cluster.sh) so that a pod routed to it reaches a
// listener on the node (no dummy interfaces on every kernel, and the
// node forwards nothing off the bridge).
const (
	outsideAddr = "198.51.100.80"
	outsideLink = "orb8br0"
	// nodeIP is the cluster's node address and the pods' gateway (hack/cluster.sh).
	nodeIP = "10.244.0.1"
)

// TestClusterComplianceReportShowsProvokedViolations: over a test period a
// pod makes a plaintext HTTP connection to an address outside the cluster
// and a shell is exec'd in a container (kubectl exec ... sh -c true), and
// another connects to a server in a namespace labelled as the cardholder
// data environment. `orb8 report compliance -o json` then lists those as
// the rows of violation for PCI DSS 4.0.1 and 10.2, and evidence for every
// other control it assesses (1.3, 1.4, 2.2); the HTML report is kept.
func TestClusterComplianceReportShowsProvokedViolations(t *testing.T) {
	c := newCluster(t)
	start := time.Now()
	served := outsideListener(t)

	plain, cde := c.namespace(), c.namespace()
	segment := "orb8-e2e-pci=" + cde
	ns, err := c.client.CoreV1().Namespaces().Get(t.Context(), cde, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels["orb8-e2e-pci"] = cde
	if _, err := c.client.CoreV1().Namespaces().Update(t.Context(), ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	vault := c.plainPod(cde, "vault", nil, "/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/etc")
	client := c.plainPod(plain, "client", []corev1.Capability{"NET_ADMIN"}, "/bin/busybox", "sleep", "3600")
	for _, p := range []*corev1.Pod{vault, client} {
		c.eventually(time.Minute, p.Name+" named by the agent", func() bool {
			_, ok := testutil.Sample(t, c.metrics(), "orb8_process_exec_total", map[string]string{"namespace": p.Namespace, "pod": p.Name})
			return ok
		})
	}

	kubectl := filepath.Join(kubectlDir(t), "kubectl")
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(kubectl, append([]string{"exec", "-n", plain, "client", "--"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl exec %v: %v\n%s", args, err, out)
		}
	}
	// Pods route only to the cluster's ranges: the outside address goes
	// through the node, which holds it.
	run("/bin/busybox", "ip", "route", "add", outsideAddr+"/32", "via", nodeIP)
	run("/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://"+outsideAddr+"/")
	if n := served(); n != 1 {
		t.Fatalf("the outside listener served %d requests, want 1", n)
	}
	run("/bin/busybox", "wget", "-q", "-O", "/dev/null", fmt.Sprintf("http://%s:8080/hosts", vault.Status.PodIP)) // kubelet's /etc/hosts
	run("sh", "-c", "true")

	bin := orb8Binary(t)
	report := func(format string) []byte {
		out, err := exec.Command(bin, "report", "compliance", "--kubeconfig", os.Getenv("KUBECONFIG"), "--timeout", "20s",
			"--framework", "pci-dss-4.0", "--since", fmt.Sprintf("%dm", int(time.Since(start).Minutes())+1), "--segment-label", segment, "-o", format).Output()
		if err != nil {
			t.Fatalf("orb8 report compliance -o %s: %v", format, err)
		}
		return out
	}
	var r compliance.Report
	var raw []byte
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Second) {
		raw = report("json")
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("report JSON: %v", err)
		}
		if hasRow(r, "4.2.1", compliance.Violation, plain, "client", "outbound to "+outsideAddr+":80") &&
			hasRow(r, "10.2", compliance.Violation, plain, "client", ": sh -c true") &&
			hasRow(r, "1.3", compliance.Evidence, cde, "vault", "inbound from "+client.Status.PodIP) &&
			hasRow(r, "2.2", compliance.Evidence, cde, "vault", "accepted connections on tcp/8080") {
			break
		}
		if time.Now().After(deadline) {
			keep(t, "e2e-compliance-report.json", raw)
			t.Fatalf("after a minute the report lacks the plaintext connection, the shell or the segment's connection:\n%s", summary(r))
		}
	}
	want := map[string]string{"1.3": compliance.Evidence, "1.4": compliance.Evidence, "2.2": compliance.Evidence,
		"4.2.1": compliance.Violation, "10.2": compliance.Violation}
	for _, ctl := range r.Controls {
		if v, ok := want[ctl.ID]; ok && ctl.Verdict != v {
			t.Errorf("control %s: %s (%s), want %s", ctl.ID, ctl.Verdict, ctl.Reason, v)
		}
		if _, assessed := want[ctl.ID]; !assessed && ctl.Verdict != compliance.NotAssessed {
			t.Errorf("control %s: %s, want not assessed (the agent runs without --anomaly-detection)", ctl.ID, ctl.Verdict)
		}
		if ctl.Verdict == compliance.NotAssessed && ctl.Reason == "" {
			t.Errorf("control %s is not assessed and says not why", ctl.ID)
		}
	}
	for _, id := range []string{"4.2.1", "10.2"} {
		for _, row := range control(r, id).Rows {
			if row.Finding == compliance.Violation && (row.Namespace == cde || row.Namespace == plain && row.Pod != "client") {
				t.Errorf("%s: a violation the test did not provoke in its namespaces: %+v", id, row)
			}
		}
	}
	if len(r.Nodes) != 1 || r.Nodes[0] != c.agent.Spec.NodeName {
		t.Errorf("nodes %v, want the agent's %s", r.Nodes, c.agent.Spec.NodeName)
	}
	html := report("html")
	if !strings.Contains(string(html), `<table id="verdicts">`) {
		t.Error("the HTML report has no verdict table")
	}
	keep(t, "e2e-compliance-report.html", html)
}

// keep writes a report of the run into $ORB8_ARTIFACTS (default
// /tmp/orb8-artifacts) for a person to look at.
func keep(t *testing.T, name string, data []byte) {
	dir := os.Getenv("ORB8_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "orb8-artifacts")
	}
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err == nil && os.WriteFile(path, data, 0o644) == nil {
		t.Logf("kept %s", path)
	}
}

// summary is the report's verdicts, notes and rows of its assessed
// controls, for a failure's message.
func summary(r compliance.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "period %+v nodes %v notes %q\n", r.Period, r.Nodes, r.Notes)
	for _, c := range r.Controls {
		if c.Verdict == compliance.NotAssessed {
			continue
		}
		fmt.Fprintf(&b, "%s %s: %s\n", c.ID, c.Verdict, c.Reason)
		for i, row := range c.Rows {
			if i == 15 {
				break
			}
			fmt.Fprintf(&b, "  %s %s/%s %s\n", row.Finding, row.Namespace, row.Pod, row.Detail)
		}
	}
	return b.String()
}

// outsideListener puts outsideAddr on the cluster's bridge and serves HTTP
// on its port 80 until the test ends; served counts requests.
func outsideListener(t *testing.T) (served func() int) {
	t.Helper()
	addr := []string{"addr", "add", outsideAddr + "/32", "dev", outsideLink}
	if out, err := exec.Command("ip", addr...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v\n%s", addr, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "addr", "del", outsideAddr+"/32", "dev", outsideLink).Run() })
	ln, err := net.Listen("tcp", outsideAddr+":80")
	if err != nil {
		t.Fatal(err)
	}
	requests := make(chan struct{}, 64)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests <- struct{}{}
		fmt.Fprintln(w, "plaintext")
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return func() int { return len(requests) }
}

// plainPod runs command in a pod of the busybox image, with capabilities
// added, until it runs.
func (c *cluster) plainPod(ns, name string, caps []corev1.Capability, command ...string) *corev1.Pod {
	c.t.Helper()
	zero := int64(0)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: &zero,
			Containers: []corev1.Container{{
				Name: name, Image: "docker.io/library/busybox:orb8", ImagePullPolicy: corev1.PullNever, Command: command,
				SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: caps}},
			}},
		},
	}
	p, err := c.client.CoreV1().Pods(ns).Create(c.t.Context(), p, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	c.eventually(time.Minute, name+" running", func() bool {
		p, err = c.client.CoreV1().Pods(ns).Get(c.t.Context(), name, metav1.GetOptions{})
		return err == nil && p.Status.PodIP != "" && p.Status.Phase == corev1.PodRunning
	})
	return p
}

func control(r compliance.Report, id string) compliance.Control {
	for _, c := range r.Controls {
		if c.ID == id {
			return c
		}
	}
	return compliance.Control{}
}

// hasRow says whether control id has a row of finding in pod ns/pod whose
// detail contains detail.
func hasRow(r compliance.Report, id, finding, ns, pod, detail string) bool {
	for _, row := range control(r, id).Rows {
		if row.Finding == finding && row.Namespace == ns && row.Pod == pod && strings.Contains(row.Detail, detail) {
			return true
		}
	}
	return false
}
