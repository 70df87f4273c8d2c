package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/humanize"
	"github.com/orb8/orb8/internal/server"
)

// defaultAgent is where 'orb8 agent' serves its API by default.
const defaultAgent = config.DefaultAPISocket

// clientOptions are the flags every client command shares: which agents to
// ask, which workloads, and how to print.
type clientOptions struct {
	agent       string
	allNodes    bool
	kubeconfig  string
	kubeContext string
	agentNS     string // where the agents' DaemonSet runs, for --all-nodes
	agentDS     string
	namespace   string
	selector    string
	pod         string
	cgroup      string
	output      string
	timeout     time.Duration
	tls         apiclient.TLS
}

func (o *clientOptions) bind(fs *pflag.FlagSet, agent string) {
	o.agent = agent
	fs.StringVar(&o.agent, "agent", o.agent, "the agent's gRPC API: unix:///PATH, or HOST:PORT (TLS)")
	fs.BoolVar(&o.allNodes, "all-nodes", false, "ask every agent of the cluster, through the Kubernetes API server (port forwarding; you see the namespaces you may get pods in)")
	fs.StringVar(&o.agentNS, "agent-namespace", "orb8", "namespace of the agents' DaemonSet, for --all-nodes")
	fs.StringVar(&o.agentDS, "agent-daemonset", "orb8", "name of the agents' DaemonSet, for --all-nodes: only its pods are asked")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig for --all-nodes (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&o.kubeContext, "context", "", "kubeconfig context for --all-nodes (default: the current one)")
	fs.StringVarP(&o.namespace, "namespace", "n", "", "only workloads of this Kubernetes namespace")
	fs.StringVarP(&o.selector, "selector", "l", "", "only pods whose labels match this selector, e.g. app=web,tier!=db")
	fs.StringVar(&o.pod, "pod", "", "only this pod (a trailing * matches a prefix)")
	fs.StringVar(&o.cgroup, "cgroup", "", "only this cgroup path (a trailing / matches everything below it)")
	fs.StringVarP(&o.output, "output", "o", "table", "table, json (one object per line) or yaml")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Second, "how long to wait for an agent to answer")
	fs.StringVar(&o.tls.CA, "tls-ca", "", "PEM CA bundle to verify the agent's TLS certificate (enables TLS)")
	fs.StringVar(&o.tls.Cert, "tls-cert", "", "PEM client certificate, for agents that require mTLS")
	fs.StringVar(&o.tls.Key, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&o.tls.ServerName, "tls-server-name", "", "name to verify in the agent's certificate (enables TLS)")
	fs.StringVar(&o.tls.Token, "token", "", "Kubernetes bearer token to authenticate to a TCP --agent with (over TLS)")
}

// validate checks the flags before anything is dialled.
func (o *clientOptions) validate() error {
	if err := o.validateQuery(); err != nil {
		return err
	}
	if o.allNodes {
		return nil
	}
	if _, err := server.ParseAddress(o.agent); err != nil {
		return fmt.Errorf("invalid --agent %s", err)
	}
	return nil
}

// validateQuery checks what to ask and how to print, whoever answers.
func (o *clientOptions) validateQuery() error {
	switch o.output {
	case "table", "json", "yaml":
	default:
		return fmt.Errorf("invalid --output %q: want table, json or yaml", o.output)
	}
	if _, err := labels.Parse(o.selector); err != nil {
		return fmt.Errorf("invalid --selector %q: %s", o.selector, humanize.OneLine(err.Error()))
	}
	if o.cgroup != "" && !strings.HasPrefix(o.cgroup, "/") {
		return fmt.Errorf("invalid --cgroup %q: want a path starting with /", o.cgroup)
	}
	if o.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, e.g. 3s")
	}
	return nil
}

// connect reaches the agent, or with --all-nodes every agent of the cluster.
func (o *clientOptions) connect(ctx context.Context) (apiclient.Client, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.allNodes {
		ctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		return apiclient.ConnectCluster(ctx, apiclient.ClusterOptions{
			Kubeconfig: o.kubeconfig, Context: o.kubeContext, Namespace: o.agentNS, DaemonSet: o.agentDS, Timeout: o.timeout,
		})
	}
	return apiclient.Dial(ctx, o.agent, o.tls, o.timeout)
}

func (o *clientOptions) filter() *pb.WorkloadFilter {
	return &pb.WorkloadFilter{Namespace: o.namespace, Pod: o.pod, Selector: o.selector, Cgroup: o.cgroup}
}

// query connects, makes fn's calls within --timeout, and closes the
// connection.
func (o *clientOptions) query(ctx context.Context, fn func(context.Context, apiclient.Client) error) error {
	client, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	return fn(ctx, client)
}
