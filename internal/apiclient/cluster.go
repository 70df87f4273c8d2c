package apiclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/klog/v2"

	"github.com/orb8/orb8/internal/humanize"
	"github.com/orb8/orb8/internal/kube"
)

const (
	// AgentSelector finds the agents' pods (the DaemonSet's label).
	AgentSelector = "app.kubernetes.io/name=orb8"
	// APIPortName is the agent container's port of its TCP API.
	APIPortName = "api"
	// AgentServerName is the name in the agents' serving certificate.
	AgentServerName = "orb8-agent"
	// caKey is the key of the agents' CA in the <daemonset>-api-ca ConfigMap.
	caKey = "ca.crt"
)

// ClusterOptions say which cluster, and where its agents run.
type ClusterOptions struct {
	Kubeconfig, Context string // empty: the default loading rules, the current context
	Namespace           string // of the agents' DaemonSet
	DaemonSet           string // its name
	Timeout             time.Duration
}

// Cluster is a Client of every agent of a cluster. Each agent is reached
// through the Kubernetes API server's port forwarding to its pod's API port,
// and the TLS session runs from here to the agent, whose certificate is
// checked against the CA the chart published: the caller authenticates to
// the agent with its own Kubernetes credentials (its client certificate or
// bearer token), and each agent shows it only the namespaces the API server
// lets it get pods in. Only pods of the named DaemonSet in the named
// namespace are asked.
type Cluster struct {
	*Multi
	stops []chan struct{}
}

// ConnectCluster finds the agents with the kubeconfig and connects to each.
func ConnectCluster(ctx context.Context, o ClusterOptions) (*Cluster, error) {
	quietClientGo()
	cfg, err := KubeRESTConfig(o.Kubeconfig, o.Context)
	if err != nil {
		return nil, err
	}
	return NewCluster(ctx, cfg, o)
}

// NewCluster connects to the agents through the API server cfg points at.
func NewCluster(ctx context.Context, cfg *rest.Config, o ClusterOptions) (*Cluster, error) {
	core, err := kube.RESTClient(cfg, corev1.SchemeGroupVersion)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %s", humanize.OneLine(err.Error()))
	}
	pods, err := agentPods(ctx, core, o)
	if err != nil {
		return nil, err
	}
	tlsCfg, token, err := callerCredentials(ctx, core, cfg, o)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Multi: &Multi{}}
	for _, p := range pods {
		a, stop, err := forward(ctx, cfg, core, p, tlsCfg, token, o.Timeout)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.members = append(c.members, a)
		c.stops = append(c.stops, stop)
	}
	return c, nil
}

// agentPods lists the running pods that the DaemonSet controls.
func agentPods(ctx context.Context, core rest.Interface, o ClusterOptions) ([]*corev1.Pod, error) {
	var list corev1.PodList
	err := core.Get().Namespace(o.Namespace).Resource("pods").
		VersionedParams(&metav1.ListOptions{LabelSelector: AgentSelector}, kube.ParameterCodec).Do(ctx).Into(&list)
	if err != nil {
		return nil, fmt.Errorf("list orb8 agent pods in namespace %s: %s", o.Namespace, humanize.OneLine(err.Error()))
	}
	var pods []*corev1.Pod
	for i := range list.Items {
		p := &list.Items[i]
		ref := metav1.GetControllerOf(p)
		if p.Status.Phase == corev1.PodRunning && ref != nil && ref.Kind == "DaemonSet" && ref.Name == o.DaemonSet {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		return nil, fmt.Errorf("no running pod of DaemonSet %s/%s (label %s): is orb8 installed there? (--agent-namespace)", o.Namespace, o.DaemonSet, AgentSelector)
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Spec.NodeName < pods[j].Spec.NodeName })
	return pods, nil
}

// callerCredentials is how this client shows itself to agents: the TLS
// config (the agents' CA and the kubeconfig's client certificate, if any)
// and the kubeconfig's bearer token, if any (from any auth plugin).
func callerCredentials(ctx context.Context, core rest.Interface, cfg *rest.Config, o ClusterOptions) (*tls.Config, string, error) {
	var cm corev1.ConfigMap
	name := o.DaemonSet + "-api-ca"
	if err := core.Get().Namespace(o.Namespace).Resource("configmaps").Name(name).Do(ctx).Into(&cm); err != nil {
		return nil, "", fmt.Errorf("read the agents' CA (ConfigMap %s/%s): %s: without it the agents' TLS API cannot be trusted; install the chart with api.tls enabled", o.Namespace, name, humanize.OneLine(err.Error()))
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(cm.Data[caKey])) {
		return nil, "", fmt.Errorf("ConfigMap %s/%s holds no PEM certificate under %s", o.Namespace, name, caKey)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: AgentServerName}
	if kc, err := rest.TLSConfigFor(cfg); err == nil && kc != nil {
		tlsCfg.Certificates, tlsCfg.GetClientCertificate = kc.Certificates, kc.GetClientCertificate
	}
	token, err := bearerToken(cfg)
	if err != nil {
		return nil, "", err
	}
	if token == "" && len(tlsCfg.Certificates) == 0 && tlsCfg.GetClientCertificate == nil {
		return nil, "", fmt.Errorf("the kubeconfig has neither a bearer token nor a client certificate to show the agents")
	}
	return tlsCfg, token, nil
}

// bearerToken is the token the kubeconfig's credentials put on a request
// (a token, a token file, an exec or auth provider plugin), "" when none.
func bearerToken(cfg *rest.Config) (string, error) {
	var header string
	capture := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		header = r.Header.Get("Authorization")
		return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	})
	rt, err := rest.HTTPWrappersForConfig(cfg, capture)
	if err != nil {
		return "", fmt.Errorf("kubeconfig credentials: %s", humanize.OneLine(err.Error()))
	}
	req, _ := http.NewRequest(http.MethodGet, "https://orb8.invalid/", nil)
	if resp, err := rt.RoundTrip(req); err != nil {
		return "", fmt.Errorf("kubeconfig credentials: %s", humanize.OneLine(err.Error()))
	} else {
		resp.Body.Close()
	}
	token, _ := strings.CutPrefix(header, "Bearer ")
	return token, nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// forward opens a port forwarding to the pod's API port and connects to it.
func forward(ctx context.Context, cfg *rest.Config, core rest.Interface, p *corev1.Pod, tlsCfg *tls.Config, token string, timeout time.Duration) (*nodeAgent, chan struct{}, error) {
	port := apiPort(p)
	name := fmt.Sprintf("%s/%s on %s", p.Namespace, p.Name, p.Spec.NodeName)
	if port == 0 {
		return nil, nil, fmt.Errorf("agent %s has no container port named %q: it serves no TCP API for cluster access", name, APIPortName)
	}
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("agent %s: %s", name, humanize.OneLine(err.Error()))
	}
	url := core.Post().Namespace(p.Namespace).Resource("pods").Name(p.Name).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, url)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		return nil, nil, fmt.Errorf("agent %s: %s", name, humanize.OneLine(err.Error()))
	}
	failed := make(chan error, 1)
	go func() { failed <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-failed:
		return nil, nil, fmt.Errorf("agent %s: port forwarding: %s", name, humanize.OneLine(fmt.Sprint(err)))
	case <-time.After(timeout):
		close(stop)
		return nil, nil, fmt.Errorf("agent %s: port forwarding not ready within %s", name, timeout)
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		close(stop)
		return nil, nil, fmt.Errorf("agent %s: port forwarding: %v", name, err)
	}
	a, err := dial(ctx, name, fmt.Sprintf("127.0.0.1:%d", ports[0].Local), tlsCfg, token, timeout, fanOutWindow)
	if err != nil {
		close(stop)
		return nil, nil, err
	}
	return &nodeAgent{Agent: a, node: p.Spec.NodeName}, stop, nil
}

func apiPort(p *corev1.Pod) int32 {
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.Name == APIPortName {
				return port.ContainerPort
			}
		}
	}
	return 0
}

// nodeAgent is an agent of one node of the cluster.
type nodeAgent struct {
	*Agent
	node string
}

// Node names the node the agent runs on.
func (a *nodeAgent) Node() string { return a.node }

// Close implements Client: the connections, then the port forwardings.
func (c *Cluster) Close() error {
	err := c.Multi.Close()
	for _, s := range c.stops {
		close(s)
	}
	return err
}

// quietClientGo keeps client-go's own log lines (a port-forward stream that
// ends as its connection closes: "Error copying from local connection to
// remote stream") off a client's terminal and out of its JSON output: every
// error that matters reaches the caller as an error.
var quietClientGo = sync.OnceFunc(func() { klog.SetLogger(logr.Discard()) })
