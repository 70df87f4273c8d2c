//go:build e2e

package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
)

// TestClusterAgentsShowEachCallerItsNamespaces: through the Kubernetes API
// (port forwarding to the agent, TLS to it), each caller sees what the API
// server lets it get pods in. A ServiceAccount bound to a Role in namespace A
// sees A's workloads, events, flows and DNS, and nothing of namespace B or of
// the node itself; one with the cluster-wide rights sees all; a caller with
// neither gets a clear permission error.
func TestClusterAgentsShowEachCallerItsNamespaces(t *testing.T) {
	c := newCluster(t)
	nsA, nsB := c.namespace(), c.namespace()
	labelsOf := func(ns, pod string) map[string]string {
		return map[string]string{"namespace": ns, "pod": pod, "container": pod}
	}
	for _, ns := range []string{nsA, nsB} {
		c.release(c.busybox(ns, "app", "while true; do /bin/busybox true; /bin/busybox sleep 1; done", corev1.RestartPolicyNever), labelsOf(ns, "app"))
	}

	// Every caller may find and reach the agents (the chart's client Role);
	// what each sees is its own rights.
	users := c.namespace()
	viewerA := c.serviceAccount(users, "viewer-a")
	c.bind(nsA, "pod-reader", viewerA, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}})
	admin := c.serviceAccount(users, "fleet-admin")
	c.bind("", "orb8-e2e-pods-everywhere-"+users, admin, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}})
	c.bindExisting("", "ClusterRole", "orb8-node-telemetry", admin)
	nobody := c.serviceAccount(users, "nobody")
	for _, sa := range []account{viewerA, admin, nobody} {
		c.bindExisting(agentNamespace, "Role", "orb8-client", sa)
	}

	namespaces := func(list []*pb.WorkloadFigures) []string {
		var out []string
		for _, w := range list {
			if ns := w.GetWorkload().GetNamespace(); !slices.Contains(out, ns) {
				out = append(out, ns)
			}
		}
		slices.Sort(out)
		return out
	}
	// viewer-a: namespace A only.
	a := c.agents(c.tokenConfig(viewerA))
	var (
		seenByA []string
		lastErr error
	)
	defer func() {
		if t.Failed() {
			t.Logf("viewer-a last saw %q, %v", seenByA, lastErr)
		}
	}()
	c.eventually(time.Minute, "viewer-a sees namespace A", func() bool {
		list, err := a.Workloads(t.Context(), &pb.ListWorkloadsRequest{})
		seenByA, lastErr = namespaces(list), err
		return err == nil && slices.Equal(seenByA, []string{nsA})
	})
	if _, err := a.Workloads(t.Context(), &pb.ListWorkloadsRequest{Filter: &pb.WorkloadFilter{Namespace: nsB}}); !apiclient.IsDenied(err) {
		t.Errorf("viewer-a asking for namespace B: %v, want a permission error", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	var event *pb.Event
	err := a.Watch(ctx, &pb.WatchEventsRequest{Kinds: []string{"exec"}, Filter: &pb.WorkloadFilter{Namespace: nsA}}, func(msg *pb.WatchEventsResponse) error {
		if e := msg.GetEvent(); e != nil {
			event = e
			cancel()
		}
		return nil
	})
	cancel()
	if event == nil || event.GetWorkload().GetNamespace() != nsA {
		t.Errorf("viewer-a's exec stream of namespace A: %v, %v", event, err)
	}
	if err := a.Watch(t.Context(), &pb.WatchEventsRequest{Kinds: []string{"exec"}}, func(*pb.WatchEventsResponse) error { return nil }); !apiclient.IsDenied(err) {
		t.Errorf("viewer-a streaming the whole node: %v, want a permission error", err)
	}
	for _, call := range []func() ([]string, error){
		func() ([]string, error) {
			flows, err := a.Flows(t.Context(), &pb.ListFlowsRequest{})
			var ns []string
			for _, f := range flows {
				ns = append(ns, f.GetWorkload().GetNamespace())
			}
			return ns, err
		},
		func() ([]string, error) {
			qs, err := a.DNS(t.Context(), &pb.ListDNSRequest{})
			var ns []string
			for _, q := range qs {
				ns = append(ns, q.GetWorkload().GetNamespace())
			}
			return ns, err
		},
	} {
		ns, err := call()
		for _, n := range ns {
			if n != nsA {
				t.Errorf("viewer-a saw a flow or DNS lookup of namespace %q", n)
			}
		}
		if err != nil && !apiclient.IsDenied(err) {
			t.Errorf("viewer-a's flows or DNS: %v", err)
		}
	}

	// fleet-admin: both namespaces and the node's own cgroups.
	all := c.agents(c.tokenConfig(admin))
	list, err := all.Workloads(t.Context(), &pb.ListWorkloadsRequest{})
	seen := namespaces(list)
	if err != nil || !slices.Contains(seen, nsA) || !slices.Contains(seen, nsB) || !slices.Contains(seen, "") {
		t.Errorf("fleet-admin sees namespaces %q, %v; want A, B and the node's own", seen, err)
	}

	// nobody: a clear refusal that names the caller.
	none := c.agents(c.tokenConfig(nobody))
	if _, err := none.Workloads(t.Context(), &pb.ListWorkloadsRequest{}); !apiclient.IsDenied(err) || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("nobody's workloads: %v, want a permission error naming the caller", err)
	}
}

// account is a ServiceAccount the test made.
type account struct{ namespace, name string }

func (c *cluster) serviceAccount(ns, name string) account {
	c.t.Helper()
	if _, err := c.client.CoreV1().ServiceAccounts(ns).Create(c.t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
	return account{ns, name}
}

// bind makes a Role (in ns) or, with ns empty, a ClusterRole with rules,
// and binds it to sa.
func (c *cluster) bind(ns, name string, sa account, rules []rbacv1.PolicyRule) {
	c.t.Helper()
	meta := metav1.ObjectMeta{Name: name, Namespace: ns}
	kind := "Role"
	var err error
	if ns != "" {
		_, err = c.client.RbacV1().Roles(ns).Create(c.t.Context(), &rbacv1.Role{ObjectMeta: meta, Rules: rules}, metav1.CreateOptions{})
	} else {
		kind = "ClusterRole"
		_, err = c.client.RbacV1().ClusterRoles().Create(c.t.Context(), &rbacv1.ClusterRole{ObjectMeta: meta, Rules: rules}, metav1.CreateOptions{})
		c.t.Cleanup(func() { c.client.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.bindExisting(ns, kind, name, sa)
}

// bindExisting binds an existing Role (in ns) or ClusterRole (ns empty: a
// ClusterRoleBinding) to sa.
func (c *cluster) bindExisting(ns, kind, role string, sa account) {
	c.t.Helper()
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.name, Namespace: sa.namespace}}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role}
	name := sa.namespace + "-" + sa.name + "-" + role
	var err error
	if ns != "" {
		_, err = c.client.RbacV1().RoleBindings(ns).Create(c.t.Context(), &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subject, RoleRef: ref}, metav1.CreateOptions{})
		c.t.Cleanup(func() { c.client.RbacV1().RoleBindings(ns).Delete(context.Background(), name, metav1.DeleteOptions{}) })
	} else {
		_, err = c.client.RbacV1().ClusterRoleBindings().Create(c.t.Context(), &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: subject, RoleRef: ref}, metav1.CreateOptions{})
		c.t.Cleanup(func() {
			c.client.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
		})
	}
	if err != nil {
		c.t.Fatal(err)
	}
}

// tokenConfig is the cluster's address and CA with a fresh token of sa:
// how such a caller's kubeconfig would look.
func (c *cluster) tokenConfig(sa account) *rest.Config {
	c.t.Helper()
	exp := int64(3600)
	tr, err := c.client.CoreV1().ServiceAccounts(sa.namespace).CreateToken(c.t.Context(), sa.name,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(c.cfg)
	cfg.BearerToken = tr.Status.Token
	return cfg
}
