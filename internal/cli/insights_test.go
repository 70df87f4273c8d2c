package cli

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/orb8/orb8/internal/insights/promtest"
	"github.com/orb8/orb8/internal/kube/kubetest"
)

func TestInsightsBadInputExitsNonZeroWithOneLine(t *testing.T) {
	t.Setenv(prometheusEnv, "")
	url := "http://127.0.0.1:1"
	for _, args := range [][]string{
		{"insights", "recommend"}, // no --prometheus
		{"insights", "recommend", "--prometheus", "prometheus:9090"},
		{"insights", "recommend", "--prometheus", url, "--window", "six hours"},
		{"insights", "recommend", "--prometheus", url, "--window", "0s"},
		{"insights", "recommend", "--prometheus", url, "-o", "xml"},
		{"insights", "cost", "--prometheus", url, "-o", "patch", "--price-cpu-core-hour", "1"},
		{"insights", "recommend", "--prometheus", url, "--end", "yesterday"},
		{"insights", "recommend", "--prometheus", url, "-l", "app in (a"},
		{"insights", "recommend", "--prometheus", url, "-l", "app.kubernetes.io/name=web"},
		{"insights", "recommend", "--prometheus", url, "--cgroup", "kubepods"},
		{"insights", "recommend", "--prometheus", url, "--cpu-percentile", "95"},
		{"insights", "cost", "--prometheus", url},
		{"insights", "cost", "--prometheus", url, "--price-cpu-core-hour", "-1"},
		{"insights", "cost", "--prometheus", url, "--price-cpu-core-hour", "1", "--by", "team"},
		{"insights", "cost", "--prometheus", url, "--price-file", "/nonexistent/prices.yaml"},
		{"insights", "forecast", "--prometheus", url, "--step", "10s"},
		{"insights", "regressions", "--prometheus", url, "--alpha", "2"},
		{"insights", "recommend", "--prometheus", url, "--timeout", "2s"}, // nothing listens
		{"top", "--prometheus", "prometheus:9090"},                        // checked before the UI starts
	} {
		t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
			code, stdout, stderr := run(args...)
			if code == 0 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "orb8: ") {
				t.Errorf("exit %d, stdout %q, stderr %q: want non-zero and one line", code, stdout, stderr)
			}
		})
	}
}

// TestInsightsAcceptance runs the acceptance commands against a
// real Prometheus holding six hours of one workload (CPU 0.4-0.6 cores,
// memory 180-220 MiB with one 250 MiB peak): recommend proposes 0.5-0.8
// cores and 250-400 MiB, cost at $0.04 a core-hour and $0.005 a GiB-hour is
// $0.11-0.14. The patch it prints applies to a real API server's Deployment.
func TestInsightsAcceptance(t *testing.T) {
	promtest.Require(t)
	h := promtest.NewHistory()
	h.Acceptance(time.Now().Add(-time.Minute).Truncate(time.Second))
	srv, err := promtest.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	p := promtest.AcceptancePod
	// One window for every command: a window that ends a few seconds later
	// steps over other samples and may propose another millicore.
	end := strconv.FormatInt(time.Now().Unix(), 10)

	code, stdout, stderr := run("insights", "recommend", "--prometheus", srv.URL, "--window", "6h", "--end", end, "-o", "json")
	if code != 0 {
		t.Fatalf("recommend: exit %d: %s", code, stderr)
	}
	var rec map[string]any
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &rec) != nil {
		t.Fatalf("recommend -o json: want one JSON object per line, got:\n%s", stdout)
	}
	for k, want := range map[string]string{"cgroup": p.Cgroup(), "namespace": p.Namespace, "pod": p.Name, "container": p.Container} {
		if rec[k] != want {
			t.Errorf("%s = %v, want %q", k, rec[k], want)
		}
	}
	cpu, _ := rec["cpu_request_cores"].(float64)
	mem, _ := rec["memory_request_bytes"].(float64)
	t.Logf("recommend: cpu_request_cores %v, memory_request_bytes %v (%.1f MiB)", cpu, mem, mem/promtest.MiB)
	if cpu < 0.5 || cpu > 0.8 || mem < 250*promtest.MiB || mem > 400*promtest.MiB {
		t.Errorf("recommendation cpu %v cores, memory %.1f MiB; want 0.5-0.8 and 250-400 MiB", cpu, mem/promtest.MiB)
	}

	code, stdout, stderr = run("insights", "cost", "--prometheus", srv.URL, "--window", "6h",
		"--price-cpu-core-hour", "0.04", "--price-memory-gib-hour", "0.005", "-o", "json")
	if code != 0 {
		t.Fatalf("cost: exit %d: %s", code, stderr)
	}
	var row map[string]any
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &row) != nil {
		t.Fatalf("cost -o json: want one JSON object, got:\n%s", stdout)
	}
	cost, _ := row["cost"].(float64)
	t.Logf("cost: $%.4f", cost)
	if cost < 0.11 || cost > 0.14 {
		t.Errorf("cost $%v, want $0.11-0.14", cost)
	}

	// Tables name what they show.
	for _, args := range [][]string{
		{"insights", "recommend", "--prometheus", srv.URL, "--window", "6h"},
		{"insights", "cost", "--prometheus", srv.URL, "--window", "6h", "--price-cpu-core-hour", "0.04"},
		{"insights", "regressions", "--prometheus", srv.URL, "--window", "6h"},
	} {
		if code, stdout, stderr := run(args...); code != 0 || !strings.Contains(stdout, "api") && !strings.Contains(stdout, "no regression in 0 rollouts") {
			t.Errorf("%v: exit %d\n%s%s", args[1:2], code, stdout, stderr)
		}
	}

	code, stdout, stderr = run("insights", "recommend", "--prometheus", srv.URL, "--window", "6h", "--end", end, "--workload", "api", "--limits", "-o", "vpa")
	if code != 0 {
		t.Fatalf("recommend -o vpa: exit %d: %s", code, stderr)
	}
	var vpa struct {
		APIVersion, Kind string
		Metadata         struct{ Name, Namespace string }
		Spec             struct {
			TargetRef      struct{ APIVersion, Kind, Name string } `json:"targetRef"`
			ResourcePolicy struct {
				ContainerPolicies []struct {
					ContainerName string            `json:"containerName"`
					MinAllowed    map[string]string `json:"minAllowed"`
				} `json:"containerPolicies"`
			} `json:"resourcePolicy"`
		}
	}
	if err := yaml.Unmarshal([]byte(stdout), &vpa); err != nil || vpa.Kind != "VerticalPodAutoscaler" || vpa.Spec.TargetRef.Kind != "Deployment" ||
		vpa.Spec.TargetRef.Name != "api" || vpa.Spec.TargetRef.APIVersion != "apps/v1" || len(vpa.Spec.ResourcePolicy.ContainerPolicies) != 1 ||
		vpa.Spec.ResourcePolicy.ContainerPolicies[0].MinAllowed["memory"] != "288Mi" {
		t.Errorf("-o vpa: %v\n%s", err, stdout)
	}

	code, stdout, stderr = run("insights", "recommend", "--prometheus", srv.URL, "--window", "6h", "--end", end, "--workload", "api", "-o", "patch")
	if code != 0 {
		t.Fatalf("recommend -o patch: exit %d: %s", code, stderr)
	}
	applyPatch(t, strings.TrimSpace(stdout), cpu, mem)
}

// applyPatch applies the strategic merge patch of a printed kubectl patch
// command to a Deployment accept/api on a real API server and checks the
// container's requests.
func applyPatch(t *testing.T, command string, cpu, mem float64) {
	t.Helper()
	const prefix = "kubectl -n accept patch deployment api --type strategic -p '"
	if !strings.HasPrefix(command, prefix) || !strings.HasSuffix(command, "'") || strings.Count(command, "\n") != 0 {
		t.Fatalf("patch command: %q, want %s...'", command, prefix)
	}
	body := strings.TrimSuffix(strings.TrimPrefix(command, prefix), "'")
	kubetest.Require(t)
	s, err := kubetest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	c, err := kubernetes.NewForConfig(s.Config())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "accept"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "api"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "accept"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "sidecar", Image: "proxy"}, {Name: "api", Image: "api:1.4"}}},
			},
		},
	}
	if _, err := c.AppsV1().Deployments("accept").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.AppsV1().Deployments("accept").Patch(ctx, "api", types.StrategicMergePatchType, []byte(body), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("apply %s: %v", body, err)
	}
	containers := got.Spec.Template.Spec.Containers
	if len(containers) != 2 || containers[0].Name != "sidecar" || len(containers[0].Resources.Requests) != 0 {
		t.Fatalf("patched containers %+v: the sidecar must stay as it was", containers)
	}
	req := containers[1].Resources.Requests
	if gotCPU, gotMem := req.Cpu().AsApproximateFloat64(), req.Memory().AsApproximateFloat64(); gotCPU != cpu || gotMem != mem {
		t.Errorf("patched requests cpu %v, memory %v; want %v, %v", gotCPU, gotMem, cpu, mem)
	}
}

// TestAskPrintsTheQueryThenTheAnswer asks the first example of a
// real Prometheus holding the DNS history (cart-1 fails 120 lookups an
// hour, web-1 30, db-1 none).
func TestAskPrintsTheQueryThenTheAnswer(t *testing.T) {
	promtest.Require(t)
	h := promtest.NewHistory()
	end := time.Now().Add(-time.Minute).Truncate(time.Second)
	h.DNS(end)
	srv, err := promtest.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	question := "which pods in shop had the most DNS failures in the last hour"
	at := end.Format(time.RFC3339) // the history's end, so "the last hour" is all history
	code, stdout, stderr := run("ask", "--prometheus", srv.URL, "--end", at, question)
	lines := strings.Split(stdout, "\n")
	if code != 0 || len(lines) < 6 || lines[0] != `query: {"intent":"top","metric":"dns_failures","kind":"pods","namespace":"shop","range":"1h","limit":10,"order":"desc"}` ||
		!strings.HasPrefix(lines[2], "NAMESPACE") || !strings.Contains(lines[3], "cart-1") || !strings.Contains(lines[4], "web-1") || !strings.Contains(lines[5], "db-1") {
		t.Fatalf("ask: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("orb8 ask %q:\n%s", question, stdout)

	code, stdout, _ = run("ask", "--prometheus", srv.URL, "--end", at, "-o", "json", question)
	lines = strings.Split(strings.TrimSpace(stdout), "\n")
	var first struct{ Query map[string]any }
	var top map[string]any
	if code != 0 || len(lines) != 4 || json.Unmarshal([]byte(lines[0]), &first) != nil || first.Query["intent"] != "top" ||
		json.Unmarshal([]byte(lines[1]), &top) != nil || top["pod"] != "cart-1" {
		t.Fatalf("ask -o json: exit %d\n%s", code, stdout)
	}
	if v, _ := top["value"].(float64); v < 118.8 || v > 121.2 {
		t.Errorf("cart-1: %v failed lookups in the hour, want 120 ± 1%%", top["value"])
	}

	code, stdout, stderr = run("ask", "--prometheus", srv.URL, "what is the weather like")
	if code == 0 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "I can answer") {
		t.Errorf("unparsable question: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
