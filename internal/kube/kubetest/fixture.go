package kubetest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Shared is the server Main started for a test binary; nil without binaries.
var Shared *Server

// Main runs a package's tests around one shared server (TestMain calls it).
func Main(m *testing.M) {
	if Missing() == "" {
		var err error
		if Shared, err = Start(); err != nil {
			fmt.Fprintln(os.Stderr, "kubetest:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if Shared != nil {
		Shared.Stop()
	}
	os.Exit(code)
}

// Fixture creates objects on the shared server as a kubelet and controllers
// would.
type Fixture struct {
	t      testing.TB
	Client kubernetes.Interface
}

// NewFixture skips or fails t (see Require) when no server runs.
func NewFixture(t testing.TB) *Fixture {
	t.Helper()
	Require(t)
	return NewFixtureOn(t, Shared)
}

// NewFixtureOn creates objects on s, a server of the test's own (Start).
func NewFixtureOn(t testing.TB, s *Server) *Fixture {
	t.Helper()
	c, err := kubernetes.NewForConfig(s.Config())
	if err != nil {
		t.Fatal(err)
	}
	return &Fixture{t: t, Client: c}
}

// Service creates a Service of one port with clusterIP (empty: one the API
// server allocates) and returns it as created.
func (f *Fixture) Service(ns, name, clusterIP string) *corev1.Service {
	f.t.Helper()
	s, err := f.Client.CoreV1().Services(ns).Create(f.t.Context(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: clusterIP, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// Uniq returns prefix with a random suffix, a name no other test uses.
func Uniq(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// ContainerID returns a random 64 hex digit container id.
func ContainerID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Namespace creates a namespace with a unique name.
func (f *Fixture) Namespace(labels map[string]string) string {
	f.t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Uniq("ns"), Labels: labels}}
	if _, err := f.Client.CoreV1().Namespaces().Create(f.t.Context(), ns, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	return ns.Name
}

// Pod creates a pod bound to node and gives it the status a kubelet would:
// containers maps container names to their ids; ip may be empty.
func (f *Fixture) Pod(ns, name, node string, labels map[string]string, ip string, containers map[string]string) *corev1.Pod {
	f.t.Helper()
	p, err := f.Client.CoreV1().Pods(ns).Create(f.t.Context(), PodObject(ns, name, node, labels, containers), metav1.CreateOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return f.SetStatus(p, ip, containers, nil)
}

// SetStatus sets the container ids of a pod, and for restarted containers
// (keys of previous) the id of the container that ran before.
func (f *Fixture) SetStatus(p *corev1.Pod, ip string, containers, previous map[string]string) *corev1.Pod {
	f.t.Helper()
	p, err := f.Client.CoreV1().Pods(p.Namespace).UpdateStatus(f.t.Context(), WithStatus(p, ip, containers, previous), metav1.UpdateOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// PodObject is the pod Pod creates: bound to node, one container per key
// of containers. (Fixture methods fail the test; code that must not, such as
// a benchmark's worker goroutines, creates this object itself.)
func PodObject(ns, name, node string, labels map[string]string, containers map[string]string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}, Spec: corev1.PodSpec{NodeName: node}}
	for c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "busybox"})
	}
	return p
}

// WithStatus returns a copy of p with the status SetStatus gives it.
func WithStatus(p *corev1.Pod, ip string, containers, previous map[string]string) *corev1.Pod {
	p = p.DeepCopy()
	p.Status.ContainerStatuses = nil
	for name, id := range containers {
		s := corev1.ContainerStatus{Name: name, ContainerID: "containerd://" + id, Image: "busybox", Ready: true}
		if old, ok := previous[name]; ok {
			s.RestartCount = 1
			s.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ContainerID: "containerd://" + old, ExitCode: 1}
		}
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, s)
	}
	if ip != "" {
		p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	}
	return p
}
