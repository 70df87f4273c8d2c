package apiclient

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"sync"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/humanize"
	"github.com/orb8/orb8/internal/kube"
)

const (
	// AgentSelector finds the agents' pods (the DaemonSet's label).
	AgentSelector = "app.kubernetes.io/name=orb8"
	// metricsPortName is the agent container's port that serves /api/v1/.
	metricsPortName    = "metrics"
	defaultMetricsPort = 9808
	// maxLine bounds one streamed event line.
	maxLine = 1 << 20
)

// Cluster is a Client of every agent of a cluster, each reached through the
// API server's pod proxy on its metrics port (JSON under /api/v1/): no
// Service, no exposed port, only the user's kubeconfig rights.
type Cluster struct {
	core   rest.Interface // the API server's core/v1
	agents []agentPod
}

type agentPod struct {
	namespace, name, node string
	port                  int
}

// ConnectCluster finds the running agent pods with the kubeconfig (empty:
// the default loading rules) and context (empty: the current one).
func ConnectCluster(ctx context.Context, kubeconfig, kubeContext string) (*Cluster, error) {
	cfg, err := kubeConfig(kubeconfig, kubeContext).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %s", humanize.OneLine(err.Error()))
	}
	return NewCluster(ctx, cfg)
}

// NewCluster finds the running agent pods through the API server cfg
// points at.
func NewCluster(ctx context.Context, cfg *rest.Config) (*Cluster, error) {
	core, err := kube.RESTClient(cfg, corev1.SchemeGroupVersion)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %s", humanize.OneLine(err.Error()))
	}
	var pods corev1.PodList
	err = core.Get().Resource("pods").VersionedParams(&metav1.ListOptions{LabelSelector: AgentSelector}, kube.ParameterCodec).
		Do(ctx).Into(&pods)
	if err != nil {
		return nil, fmt.Errorf("list orb8 agent pods (%s): %s", AgentSelector, humanize.OneLine(err.Error()))
	}
	c := &Cluster{core: core}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.Phase == corev1.PodRunning {
			c.agents = append(c.agents, agentPod{namespace: p.Namespace, name: p.Name, node: p.Spec.NodeName, port: metricsPort(p)})
		}
	}
	if len(c.agents) == 0 {
		return nil, fmt.Errorf("no running orb8 agent pods (label %s) in the cluster", AgentSelector)
	}
	sort.Slice(c.agents, func(i, j int) bool { return c.agents[i].node < c.agents[j].node })
	return c, nil
}

func metricsPort(p *corev1.Pod) int {
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.Name == metricsPortName {
				return int(port.ContainerPort)
			}
		}
	}
	return defaultMetricsPort
}

// proxy is a GET of path on agent a's metrics port, through the API server's pod proxy.
func (c *Cluster) proxy(a agentPod, path string) *rest.Request {
	return c.core.Get().Namespace(a.namespace).Resource("pods").
		Name("http:" + a.name + ":" + strconv.Itoa(a.port)).SubResource("proxy").Suffix(path)
}

// get asks one agent for path and decodes the JSON answer into out.
func (c *Cluster) get(ctx context.Context, a agentPod, path string, params url.Values, out proto.Message) error {
	r := c.proxy(a, "api/v1/"+path)
	for k, v := range params {
		if len(v) > 0 {
			r = r.Param(k, v[0])
		}
	}
	raw, err := r.DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("agent %s/%s on %s: %s", a.namespace, a.name, a.node, humanize.OneLine(err.Error()))
	}
	if err := protojson.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("agent %s/%s on %s: bad answer: %s", a.namespace, a.name, a.node, humanize.OneLine(err.Error()))
	}
	return nil
}

// each runs fn for every agent at once and joins the errors.
func (c *Cluster) each(fn func(i int, a agentPod) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.agents))
	for i, a := range c.agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i, a)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// gather asks every agent and returns the answers in node order; an agent
// that failed leaves an empty answer and its error.
func gather[T proto.Message](c *Cluster, ctx context.Context, path string, params url.Values, fresh func() T) ([]T, error) {
	out := make([]T, len(c.agents))
	err := c.each(func(i int, a agentPod) error {
		out[i] = fresh()
		return c.get(ctx, a, path, params, out[i])
	})
	return out, err
}

func filterParams(f *pb.WorkloadFilter, limit uint32) url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("namespace", f.GetNamespace())
	set("pod", f.GetPod())
	set("selector", f.GetSelector())
	set("cgroup", f.GetCgroup())
	if limit > 0 {
		v.Set("limit", strconv.FormatUint(uint64(limit), 10))
	}
	return v
}

// Statuses implements Client.
func (c *Cluster) Statuses(ctx context.Context) ([]*pb.Status, error) {
	return gather(c, ctx, "status", nil, func() *pb.Status { return &pb.Status{} })
}

// Workloads implements Client.
func (c *Cluster) Workloads(ctx context.Context, req *pb.ListWorkloadsRequest) ([]*pb.WorkloadFigures, error) {
	answers, err := gather(c, ctx, "workloads", filterParams(req.GetFilter(), req.GetLimit()),
		func() *pb.ListWorkloadsResponse { return &pb.ListWorkloadsResponse{} })
	var out []*pb.WorkloadFigures
	for _, a := range answers {
		out = append(out, a.GetWorkloads()...)
	}
	return capped(out, req.GetLimit()), err
}

// Flows implements Client.
func (c *Cluster) Flows(ctx context.Context, req *pb.ListFlowsRequest) ([]*pb.Flow, error) {
	params := filterParams(req.GetFilter(), req.GetLimit())
	if req.GetProtocol() != "" {
		params.Set("protocol", req.GetProtocol())
	}
	answers, err := gather(c, ctx, "flows", params, func() *pb.ListFlowsResponse { return &pb.ListFlowsResponse{} })
	var out []*pb.Flow
	for _, a := range answers {
		out = append(out, a.GetFlows()...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].TxBytes+out[i].RxBytes > out[j].TxBytes+out[j].RxBytes
	})
	return capped(out, req.GetLimit()), err
}

// DNS implements Client.
func (c *Cluster) DNS(ctx context.Context, req *pb.ListDNSRequest) ([]*pb.DNSQuery, error) {
	params := filterParams(req.GetFilter(), req.GetLimit())
	if req.GetErrorsOnly() {
		params.Set("errors", "true")
	}
	if req.GetName() != "" {
		params.Set("name", req.GetName())
	}
	answers, err := gather(c, ctx, "dns", params, func() *pb.ListDNSResponse { return &pb.ListDNSResponse{} })
	var out []*pb.DNSQuery
	for _, a := range answers {
		out = append(out, a.GetQueries()...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].GetTime().AsTime().After(out[j].GetTime().AsTime()) })
	return capped(out, req.GetLimit()), err
}

// Processes implements Client: it asks the agent of the workload's node.
func (c *Cluster) Processes(ctx context.Context, node, cgroup string) ([]*pb.Process, error) {
	for _, a := range c.agents {
		if a.node == node {
			resp := &pb.ListProcessesResponse{}
			err := c.get(ctx, a, "processes", url.Values{"cgroup": {cgroup}}, resp)
			return resp.GetProcesses(), err
		}
	}
	return nil, fmt.Errorf("no orb8 agent runs on node %q", node)
}

// GPUs implements Client.
func (c *Cluster) GPUs(ctx context.Context) ([]*pb.GPU, error) {
	answers, err := gather(c, ctx, "gpus", nil, func() *pb.ListGPUsResponse { return &pb.ListGPUsResponse{} })
	var out []*pb.GPU
	for _, a := range answers {
		out = append(out, a.GetGpus()...)
	}
	return out, err
}

// Watch implements Client: one streamed request per agent, merged. Each
// agent reports its own running total of drops; fn sees their sum.
func (c *Cluster) Watch(ctx context.Context, req *pb.WatchEventsRequest, fn func(*pb.WatchEventsResponse) error) error {
	params := filterParams(req.GetFilter(), 0)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex // fn sees one message at a time
		drops = make([]uint64, len(c.agents))
	)
	return c.each(func(i int, a agentPod) error {
		err := c.stream(ctx, a, req.GetKinds(), params, func(msg *pb.WatchEventsResponse) error {
			mu.Lock()
			defer mu.Unlock()
			if d := msg.GetDrops(); d != nil {
				drops[i] = d.GetTotal()
				var total uint64
				for _, n := range drops {
					total += n
				}
				msg = &pb.WatchEventsResponse{Item: &pb.WatchEventsResponse_Drops{Drops: &pb.Drops{Total: total}}}
			}
			return fn(msg)
		})
		if err != nil && ctx.Err() == nil {
			cancel()
			return err
		}
		return nil
	})
}

func (c *Cluster) stream(ctx context.Context, a agentPod, kinds []string, params url.Values, fn func(*pb.WatchEventsResponse) error) error {
	r := c.proxy(a, "api/v1/events")
	for k, v := range params {
		r = r.Param(k, v[0])
	}
	for _, k := range kinds {
		r = r.Param("kind", k)
	}
	body, err := r.Stream(ctx)
	if err != nil {
		return fmt.Errorf("agent %s/%s on %s: %s", a.namespace, a.name, a.node, humanize.OneLine(err.Error()))
	}
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		msg := &pb.WatchEventsResponse{}
		if err := protojson.Unmarshal(sc.Bytes(), msg); err != nil {
			return fmt.Errorf("agent %s/%s on %s: bad event: %s", a.namespace, a.name, a.node, humanize.OneLine(err.Error()))
		}
		if err := fn(msg); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}

// Close implements Client.
func (c *Cluster) Close() error { return nil }

func capped[T any](items []T, n uint32) []T {
	if n > 0 && len(items) > int(n) {
		return items[:n]
	}
	return items
}
