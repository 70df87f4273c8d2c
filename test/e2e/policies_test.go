//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/orb8/orb8/internal/policy"
	"github.com/orb8/orb8/internal/testutil"
)

var (
	clusterPolicies = schema.GroupVersionResource{Group: "orb8.dev", Version: "v1alpha1", Resource: "clustersecuritypolicies"}
	nsPolicies      = schema.GroupVersionResource{Group: "orb8.dev", Version: "v1alpha1", Resource: "securitypolicies"}
)

// policyApplies is how soon a created, changed or deleted policy must be in
// force on the node (issue 19).
const policyApplies = 2 * time.Second

// TestClusterSecurityPolicyKillsShellsInItsNamespace: a SecurityPolicy that
// kills /bin/sh applies within 2 s of being created or changed, to the pods
// of its namespace only; every kill is one match in
// orb8_policy_matches_total and is counted on a Kubernetes Event on the pod;
// its status says the node loaded it; deleted, it stops applying within 2 s.
func TestClusterSecurityPolicyKillsShellsInItsNamespace(t *testing.T) {
	c := newCluster(t)
	dc, err := dynamic.NewForConfig(c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	guarded, other := c.namespace(), c.namespace()
	web := c.busybox(guarded, "web", "sleep 3600", corev1.RestartPolicyNever)
	neighbour := c.busybox(other, "web", "sleep 3600", corev1.RestartPolicyNever)
	kubectl := filepath.Join(kubectlDir(t), "kubectl")
	if code, out := shell(t, kubectl, web); code != 0 {
		t.Fatalf("before any policy, sh in %s/%s exited %d: %s", guarded, web.Name, code, out)
	}

	p := c.createPolicy(dc, nsPolicies, guarded, `
apiVersion: orb8.dev/v1alpha1
kind: SecurityPolicy
metadata: {name: no-shells}
spec:
  selector: {podSelector: {matchLabels: {app: web}}}
  rules:
  - exec: {paths: [/bin/sh]}
    action: kill
`)
	c.untilShell(kubectl, web, time.Now(), 137)
	kills := 1
	if code, out := shell(t, kubectl, neighbour); code != 0 {
		t.Errorf("sh in %s/%s, a namespace the policy does not cover, exited %d: %s", other, neighbour.Name, code, out)
	}
	// One more kill after the neighbour's shell, to count exactly.
	if code, _ := shell(t, kubectl, web); code != 137 {
		t.Errorf("sh in %s/web exited %d with the policy in force, want 137", guarded, code)
	}
	kills++
	// Changed to another program, then back: each change applies within 2 s.
	p = c.setExecPaths(dc, p, "/bin/true")
	c.untilShell(kubectl, web, time.Now(), 0)
	p = c.setExecPaths(dc, p, "/bin/sh")
	c.untilShell(kubectl, web, time.Now(), 137)
	kills++

	ref := guarded + "/no-shells"
	c.eventually(time.Minute, "orb8_policy_matches_total of "+ref, func() bool {
		v, _ := testutil.Sample(t, c.metrics(), "orb8_policy_matches_total",
			map[string]string{"policy": ref, "action": "kill", "mode": "enforce", "namespace": guarded, "pod": "web"})
		return v == float64(kills)
	})
	// Repeats are counted on one Event, as kubectl shows them ("x3 over ...").
	c.eventually(time.Minute, fmt.Sprintf("a PolicyKilled Event on %s/web counting %d kills", guarded, kills), func() bool {
		evs, err := c.client.CoreV1().Events(guarded).List(t.Context(), metav1.ListOptions{FieldSelector: "involvedObject.name=web,reason=PolicyKilled"})
		if err != nil || len(evs.Items) != 1 {
			return false
		}
		e := evs.Items[0]
		return e.Type == corev1.EventTypeWarning && e.InvolvedObject.UID == web.UID && e.Count == int32(kills) &&
			e.Message == `policy `+ref+` rule 0 killed the exec of "/bin/sh"`
	})
	if evs, err := c.client.CoreV1().Events(other).List(t.Context(), metav1.ListOptions{FieldSelector: "reason=PolicyKilled"}); err != nil || len(evs.Items) != 0 {
		t.Errorf("PolicyKilled Events in %s, which no policy covers: %v %v", other, evs, err)
	}
	c.eventually(time.Minute, "the policy's status to say the node loaded it", func() bool {
		u, err := dc.Resource(nsPolicies).Namespace(guarded).Get(t.Context(), p.GetName(), metav1.GetOptions{})
		return err == nil && loadedOn(u, c.agent.Spec.NodeName)
	})

	if err := dc.Resource(nsPolicies).Namespace(guarded).Delete(t.Context(), p.GetName(), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	c.untilShell(kubectl, web, time.Now(), 0)
}

// TestClusterSecurityPolicyStatusReportsRefusal: a policy the API server
// accepts but the agent refuses (a label key its selector cannot hold) is
// reported in status, Loaded False, with the agent's message.
func TestClusterSecurityPolicyStatusReportsRefusal(t *testing.T) {
	c := newCluster(t)
	dc, err := dynamic.NewForConfig(c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := c.createPolicy(dc, clusterPolicies, "", `
apiVersion: orb8.dev/v1alpha1
kind: ClusterSecurityPolicy
metadata: {name: e2e-refused}
spec:
  mode: monitor
  selector: {podSelector: {matchLabels: {"not a label key!": x}}}
  rules:
  - exec: {paths: [/bin/true]}
    action: audit
`)
	var msg string
	c.eventually(time.Minute, "the refusal in the policy's status", func() bool {
		u, err := dc.Resource(clusterPolicies).Get(t.Context(), p.GetName(), metav1.GetOptions{})
		if err != nil {
			return false
		}
		cond := loadedCondition(u)
		msg, _ = cond["message"].(string)
		return cond["status"] == "False"
	})
	if !strings.Contains(msg, "spec.selector.podSelector.matchLabels[not a label key!]") {
		t.Errorf("Loaded condition's message does not name the field: %q", msg)
	}
}

// TestClusterSecurityPolicyInvalidIsRefused: the API server refuses a bad
// policy with a message naming the field, and so does the agent's parser
// (policy files and objects are one schema).
func TestClusterSecurityPolicyInvalidIsRefused(t *testing.T) {
	c := newCluster(t)
	dc, err := dynamic.NewForConfig(c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := c.namespace()
	for _, tc := range []struct{ name, doc, field string }{
		{"connect-kill", `kind: SecurityPolicy
spec: {rules: [{connect: {cidrs: [10.0.0.0/8]}, action: kill}]}`, "spec.rules[0].action"},
		{"bad-mode", `kind: ClusterSecurityPolicy
spec: {mode: loud, rules: [{exec: {paths: [/bin/sh]}, action: kill}]}`, "spec.mode"},
		{"host-bits", `kind: ClusterSecurityPolicy
spec: {rules: [{connect: {cidrs: [10.0.0.1/8]}, action: deny}]}`, "spec.rules[0].connect.cidrs[0]"},
		{"two-kinds", `kind: ClusterSecurityPolicy
spec: {rules: [{exec: {paths: [/bin/sh]}, dns: {names: [a.b]}, action: audit}]}`, "spec.rules[0]"},
		{"ns-selector", `kind: SecurityPolicy
spec: {selector: {namespaces: [shop]}, rules: [{exec: {paths: [/bin/sh]}, action: kill}]}`, "spec.selector.namespaces"},
		{"relative-path", `kind: ClusterSecurityPolicy
spec: {rules: [{exec: {paths: [bin/sh]}, action: kill}]}`, "spec.rules[0].exec.paths[0]"},
		{"no-rules", `kind: ClusterSecurityPolicy
spec: {rules: []}`, "spec.rules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "apiVersion: orb8.dev/v1alpha1\nmetadata: {name: " + tc.name + "}\n" + tc.doc
			u := decodeObject(t, doc)
			gvr, namespace := clusterPolicies, ""
			if u.GetKind() == policy.KindNamespaced {
				gvr, namespace = nsPolicies, ns
				u.SetNamespace(ns)
			}
			_, err := dc.Resource(gvr).Namespace(namespace).Create(t.Context(), u, metav1.CreateOptions{})
			if err == nil {
				t.Fatalf("the API server accepted\n%s", doc)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("the API server's refusal does not name %s: %v", tc.field, err)
			}
			if namespace != "" {
				doc = strings.Replace(doc, "metadata: {", "metadata: {namespace: "+ns+", ", 1)
			}
			if _, err := policy.Parse([]byte(doc), "test"); err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("the agent's parser does not refuse it naming %s: %v", tc.field, err)
			}
		})
	}
}

func decodeObject(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// createPolicy creates the policy doc in namespace ("" for a cluster
// policy) and deletes it when the test ends.
func (c *cluster) createPolicy(dc dynamic.Interface, gvr schema.GroupVersionResource, namespace, doc string) *unstructured.Unstructured {
	c.t.Helper()
	u := decodeObject(c.t, doc)
	u.SetNamespace(namespace)
	r := dc.Resource(gvr).Namespace(namespace)
	u, err := r.Create(c.t.Context(), u, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatalf("create %s: %v", gvr.Resource, err)
	}
	c.t.Cleanup(func() { _ = r.Delete(c.t.Context(), u.GetName(), metav1.DeleteOptions{}) })
	return u
}

// setExecPaths changes the first rule of p to exec of paths. The agent
// writes the status in between: on a conflict it reads p again.
func (c *cluster) setExecPaths(dc dynamic.Interface, p *unstructured.Unstructured, paths ...string) *unstructured.Unstructured {
	c.t.Helper()
	r := dc.Resource(nsPolicies).Namespace(p.GetNamespace())
	list := make([]any, len(paths))
	for i, path := range paths {
		list[i] = path
	}
	for range 10 {
		cur, err := r.Get(c.t.Context(), p.GetName(), metav1.GetOptions{})
		if err != nil {
			c.t.Fatal(err)
		}
		rules, _, _ := unstructured.NestedSlice(cur.Object, "spec", "rules")
		if err := unstructured.SetNestedSlice(rules[0].(map[string]any), list, "exec", "paths"); err != nil {
			c.t.Fatal(err)
		}
		if err := unstructured.SetNestedSlice(cur.Object, rules, "spec", "rules"); err != nil {
			c.t.Fatal(err)
		}
		out, err := r.Update(c.t.Context(), cur, metav1.UpdateOptions{})
		if err == nil {
			return out
		}
		if !apierrors.IsConflict(err) {
			c.t.Fatalf("update %s: %v", p.GetName(), err)
		}
	}
	c.t.Fatalf("update %s: conflicts", p.GetName())
	return nil
}

// shell runs sh in pod through kubectl exec and returns its exit status.
func shell(t *testing.T, kubectl string, pod *corev1.Pod) (int, string) {
	t.Helper()
	out, err := exec.Command(kubectl, "exec", "-n", pod.Namespace, pod.Name, "--", "sh", "-c", "echo alive").CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("kubectl exec: %v", err)
	return 0, ""
}

// untilShell runs sh in pod until it exits with want. A run that started more than policyApplies after since and
// still did not exit with want fails the test: the change took longer.
func (c *cluster) untilShell(kubectl string, pod *corev1.Pod, since time.Time, want int) {
	c.t.Helper()
	for {
		start := time.Now()
		code, out := shell(c.t, kubectl, pod)
		if code == want {
			c.t.Logf("sh in %s/%s exited %d %s after the change", pod.Namespace, pod.Name, want, time.Since(since).Round(time.Millisecond))
			return
		}
		if late := start.Sub(since); late > policyApplies {
			c.t.Fatalf("sh in %s/%s started %s after the change still exited %d (want %d): %s", pod.Namespace, pod.Name, late, code, want, out)
		}
		if want == 137 && code != 0 {
			c.t.Fatalf("sh in %s/%s exited %d: %s", pod.Namespace, pod.Name, code, out)
		}
	}
}

// loadedCondition is the Loaded condition of a policy object's status.
func loadedCondition(u *unstructured.Unstructured) map[string]any {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Loaded" {
			return m
		}
	}
	return nil
}

// loadedOn reports whether the status says node enforces the object's
// current generation, and counts it.
func loadedOn(u *unstructured.Unstructured, node string) bool {
	cond := loadedCondition(u)
	if cond == nil || cond["status"] != "True" || fmt.Sprint(cond["observedGeneration"]) != fmt.Sprint(u.GetGeneration()) {
		return false
	}
	n, _, _ := unstructured.NestedInt64(u.Object, "status", "loadedNodes")
	nodes, _, _ := unstructured.NestedSlice(u.Object, "status", "nodes")
	for _, e := range nodes {
		if m, ok := e.(map[string]any); ok && m["name"] == node && m["loaded"] == true {
			return n >= 1
		}
	}
	return false
}
