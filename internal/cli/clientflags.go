package cli

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"
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
	flags         *pflag.FlagSet
	agent         string
	allNodes      bool
	hub           string // a hub's API, instead of --agent
	cluster       string // with hub: one member
	kubeconfig    string
	kubeContext   string
	agentNS       string // where the agents' DaemonSet runs, for --all-nodes
	agentDS       string
	namespace     string
	allNamespaces bool
	selector      string
	pod           string
	cgroup        string
	output        string
	// formats are the --output values a command takes, the default first;
	// nil: table, json and yaml.
	formats []string
	timeout time.Duration
	tls     apiclient.TLS
}

func (o *clientOptions) bind(fs *pflag.FlagSet, agent string) {
	o.flags = fs
	o.agent = agent
	fs.StringVar(&o.agent, "agent", o.agent, "the agent's gRPC API: unix:///PATH, or HOST:PORT (TLS)")
	fs.StringVar(&o.hub, "hub", "", "ask a fleet hub (orb8 hub) instead: unix:///PATH, or HOST:PORT (TLS); answers carry each agent's cluster")
	fs.StringVar(&o.cluster, "cluster", "", "with --hub: only this fleet member")
	fs.BoolVar(&o.allNodes, "all-nodes", false, "ask every agent of the cluster, through the Kubernetes API server (port forwarding; you see the namespaces you may get pods in)")
	fs.StringVar(&o.agentNS, "agent-namespace", "orb8", "namespace of the agents' DaemonSet, for --all-nodes")
	fs.StringVar(&o.agentDS, "agent-daemonset", "orb8", "name of the agents' DaemonSet, for --all-nodes: only its pods are asked")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig for --all-nodes (default: $KUBECONFIG, then ~/.kube/config); implies --all-nodes unless --agent is set")
	fs.StringVar(&o.kubeContext, "context", "", "kubeconfig context for --all-nodes (default: the current one); implies --all-nodes unless --agent is set")
	fs.StringVarP(&o.namespace, "namespace", "n", "", "only workloads of this Kubernetes namespace")
	fs.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "workloads of every namespace and outside Kubernetes (the default, except as a kubectl plugin)")
	fs.StringVarP(&o.selector, "selector", "l", "", "only pods whose labels match this selector, e.g. app=web,tier!=db")
	fs.StringVar(&o.pod, "pod", "", "only this pod (a trailing * matches a prefix)")
	fs.StringVar(&o.cgroup, "cgroup", "", "only this cgroup path (a trailing / matches everything below it)")
	if o.formats == nil {
		fs.StringVarP(&o.output, "output", "o", "table", "table, json (one object per line) or yaml")
	} else {
		fs.StringVarP(&o.output, "output", "o", o.formats[0], strings.Join(o.formats, ", "))
	}
	fs.DurationVar(&o.timeout, "timeout", 3*time.Second, "how long to wait for an agent to answer")
	fs.StringVar(&o.tls.CA, "tls-ca", "", "PEM CA bundle to verify the agent's TLS certificate (enables TLS)")
	fs.StringVar(&o.tls.Cert, "tls-cert", "", "PEM client certificate, for agents that require mTLS")
	fs.StringVar(&o.tls.Key, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&o.tls.ServerName, "tls-server-name", "", "name to verify in the agent's certificate (enables TLS)")
	fs.StringVar(&o.tls.Token, "token", "", "Kubernetes bearer token to authenticate to a TCP --agent with (over TLS)")
}

// validate checks the flags before anything is dialled.
func (o *clientOptions) validate(ctx context.Context) error {
	if err := o.validateQuery(ctx); err != nil {
		return err
	}
	if o.cluster != "" && o.hub == "" {
		return fmt.Errorf("--cluster chooses a hub's member: give --hub too")
	}
	if o.hub != "" {
		if o.allNodes {
			return fmt.Errorf("--hub and --all-nodes: choose one")
		}
		if _, err := server.ParseAddress(o.hub); err != nil {
			return fmt.Errorf("invalid --hub %s", err)
		}
		return nil
	}
	if o.allNodes {
		return nil
	}
	if _, err := server.ParseAddress(o.agent); err != nil {
		return fmt.Errorf("invalid --agent %s", err)
	}
	return nil
}

// validateQuery checks what to ask and how to print, whoever answers, and
// settles which agents answer (kubectl's conventions apply as a plugin).
func (o *clientOptions) validateQuery(ctx context.Context) error {
	if err := o.settleTarget(ctx); err != nil {
		return err
	}
	if o.formats == nil {
		switch o.output {
		case "table", "json", "yaml":
		default:
			return fmt.Errorf("invalid --output %q: want table, json or yaml", o.output)
		}
	} else if !slices.Contains(o.formats, o.output) {
		return fmt.Errorf("invalid --output %q: want %s", o.output, strings.Join(o.formats, ", "))
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

// settleTarget applies kubectl's conventions: --kubeconfig or --context
// alone mean the cluster's agents; as a kubectl plugin the cluster is the
// default and so is the context's namespace (-A: every namespace).
func (o *clientOptions) settleTarget(ctx context.Context) error {
	if o.flags == nil {
		return nil
	}
	if o.allNamespaces && o.flags.Changed("namespace") {
		return fmt.Errorf("-n/--namespace and -A/--all-namespaces go apart: give one")
	}
	explicit := o.flags.Changed("agent") || o.flags.Changed("all-nodes")
	kubeFlags := o.flags.Changed("kubeconfig") || o.flags.Changed("context")
	if !explicit && (kubeFlags || asKubectlPlugin(ctx)) {
		o.allNodes = true
	}
	if asKubectlPlugin(ctx) && o.allNodes && !o.allNamespaces && !o.flags.Changed("namespace") {
		ns, err := apiclient.KubeNamespace(o.kubeconfig, o.kubeContext)
		if err != nil {
			return err
		}
		o.namespace = ns
	}
	return nil
}

// connect reaches the agent, or with --all-nodes every agent of the cluster.
func (o *clientOptions) connect(ctx context.Context) (apiclient.Client, error) {
	if err := o.validate(ctx); err != nil {
		return nil, err
	}
	if o.allNodes {
		ctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		return apiclient.ConnectCluster(ctx, apiclient.ClusterOptions{
			Kubeconfig: o.kubeconfig, Context: o.kubeContext, Namespace: o.agentNS, DaemonSet: o.agentDS, Timeout: o.timeout,
		})
	}
	if o.hub != "" {
		return apiclient.Dial(ctx, o.hub, o.tls, o.timeout)
	}
	return apiclient.Dial(ctx, o.agent, o.tls, o.timeout)
}

func (o *clientOptions) filter() *pb.WorkloadFilter {
	return &pb.WorkloadFilter{Namespace: o.namespace, Pod: o.pod, Selector: o.selector, Cgroup: o.cgroup, Cluster: o.cluster}
}

// query connects, makes fn's calls within --timeout, and closes the
// connection. An answer that lacks some agents' parts is printed, with a
// warning on stderr that names them.
func (o *clientOptions) query(ctx context.Context, fn func(context.Context, apiclient.Client) error) error {
	client, err := o.connect(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	err = fn(ctx, client)
	if apiclient.IsPartial(err) {
		fmt.Fprintf(os.Stderr, "orb8: warning: %s\n", humanize.OneLine(err.Error()))
		return nil
	}
	return err
}

// clusterColumn puts a CLUSTER column first in a hub's tables.
func (o *clientOptions) clusterColumn(header []string, row func(proto.Message) []string, workload func(proto.Message) *pb.Workload) ([]string, func(proto.Message) []string) {
	if o.hub == "" {
		return header, row
	}
	return append([]string{"CLUSTER"}, header...), func(m proto.Message) []string {
		return append([]string{humanize.Dash(workload(m).GetCluster())}, row(m)...)
	}
}
