package tpu

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/local"
	"google.golang.org/grpc/status"

	tpupb "github.com/orb8/orb8/api/tpu_info/proto"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/gpu"
	"github.com/orb8/orb8/internal/series"
)

// pollers bounds the workloads polled at the same time.
const pollers = 8

// value names one exported value of an endpoint: family, device, and for
// otherDesc the libtpu metric.
type value struct {
	desc           *series.Desc
	device, metric string
}

// workloadValue is a value of a workload, over all its endpoints.
type workloadValue struct {
	w cgroup.Workload
	value
}

// poll finds the TPU workloads, polls each, and replaces the exported
// series; a workload that stopped answering loses its series.
func (p *Probe) poll(ctx context.Context) {
	eps, err := discover(p.proc, p.opts.Port)
	if err != nil {
		p.env.Log.Warn("TPU workloads", "err", err)
		return
	}
	if len(eps) > p.opts.MaxEndpoints {
		p.count(reasonEndpointsFull, len(eps)-p.opts.MaxEndpoints)
		eps = eps[:p.opts.MaxEndpoints]
	}
	p.closeGone(eps)
	results := make([]map[value]float64, len(eps))
	sem := make(chan struct{}, pollers)
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = p.pollEndpoint(ctx, ep)
		}()
	}
	wg.Wait()

	sums := map[workloadValue]float64{}
	for i, ep := range eps {
		w, ok := p.env.WorkloadOfPID(p.proc, ep.pid)
		if !ok {
			continue // exited, or hidden by the agent's filters
		}
		for v, x := range results[i] {
			sums[workloadValue{w, v}] += x // two endpoints of one workload: different namespaces, summed
		}
	}
	out := make([]prometheus.Metric, 0, len(sums)+8)
	for k, x := range sums {
		labels := []string{vendor, k.device}
		switch k.desc {
		case otherDesc:
			labels = append(labels, k.metric)
		case memUsedDesc, utilDesc:
			labels = append(labels, "") // no uuid
		}
		out = append(out, series.Metric(k.desc, prometheus.GaugeValue, x, k.w, labels...))
	}
	out = append(out, gauge(endpointsDesc, float64(len(eps))))
	out = append(out, p.podSeries(ctx)...)
	p.Keep(out)
}

// closeGone drops the connections of endpoints no longer found.
func (p *Probe) closeGone(eps []endpoint) {
	found := make(map[endpoint]bool, len(eps))
	for _, ep := range eps {
		found[ep] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for ep, c := range p.conns {
		if !found[ep] {
			c.Close()
			delete(p.conns, ep)
		}
	}
}

// conn is the endpoint's connection, made on first use: dialled inside the
// workload's network namespace, with local (loopback, unencrypted)
// credentials as tpu-info uses, and responses bounded by maxMessage.
func (p *Probe) conn(ep endpoint) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[ep]; ok {
		return c, nil
	}
	bo := backoff.DefaultConfig
	bo.MaxDelay = p.opts.Interval // a restarted workload is polled again at the next interval
	c, err := grpc.NewClient("passthrough:///"+ep.addr.String(),
		grpc.WithTransportCredentials(local.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return dialInNetns(ctx, p.proc, ep.pid, ep.netns, addr)
		}),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: p.opts.Timeout}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage)),
	)
	if err != nil {
		return nil, err
	}
	p.conns[ep] = c
	return c, nil
}

// pollEndpoint reads every gauge the endpoint lists, within --tpu-timeout.
func (p *Probe) pollEndpoint(ctx context.Context, ep endpoint) map[value]float64 {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	c, err := p.conn(ep)
	if err != nil {
		p.count(reasonConnect, 1)
		return nil
	}
	client := tpupb.NewRuntimeMetricServiceClient(c)
	names, err := p.metricNames(ctx, client)
	if err != nil {
		p.count(reasonOf(err), 1)
		return nil
	}
	out := map[value]float64{}
	for _, name := range names {
		resp, err := client.GetRuntimeMetric(ctx, &tpupb.MetricRequest{MetricName: name})
		if status.Code(err) == codes.NotFound {
			continue // listed, but no data yet
		}
		if err != nil {
			p.count(reasonOf(err), 1)
			if ctx.Err() != nil || status.Code(err) == codes.Unavailable {
				return out
			}
			continue
		}
		fam, ok := known[name]
		metric := ""
		if !ok {
			fam, metric = family{desc: otherDesc, scale: 1}, name
		}
		rs, skipped := readings(resp.GetMetric())
		p.count(reasonMalformed, skipped)
		for _, r := range rs {
			k := value{desc: fam.desc, device: r.device, metric: metric}
			if _, dup := out[k]; dup && !fam.sum {
				p.count(reasonMalformed, 1)
				continue
			}
			out[k] += r.value * fam.scale
		}
	}
	return out
}

// knownNames are polled when the service cannot list its metrics.
var knownNames = func() []string {
	var out []string
	for n := range known {
		out = append(out, n)
	}
	return out
}()

// metricNames are the metrics to read: those the service lists that have
// a family, and up to maxMetrics others with a plausible name.
func (p *Probe) metricNames(ctx context.Context, client tpupb.RuntimeMetricServiceClient) ([]string, error) {
	resp, err := client.ListSupportedMetrics(ctx, &tpupb.ListSupportedMetricsRequest{})
	if status.Code(err) == codes.Unimplemented {
		return knownNames, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	seen := map[string]bool{}
	others := 0
	for _, m := range resp.GetSupportedMetric() {
		n := m.GetMetricName()
		if seen[n] {
			continue
		}
		seen[n] = true
		if _, ok := known[n]; ok {
			names = append(names, n)
			continue
		}
		if !pollable(n) {
			continue
		}
		if others == maxMetrics {
			p.count(reasonMetricsFull, 1)
			continue
		}
		others++
		names = append(names, n)
	}
	return names, nil
}

// reasonOf classifies a failed call.
func reasonOf(err error) string {
	switch status.Code(err) {
	case codes.Unavailable:
		return reasonConnect
	case codes.DeadlineExceeded:
		return reasonTimeout
	case codes.ResourceExhausted:
		return reasonTooLarge
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return reasonTimeout
	}
	return reasonRPC
}

// podSeries exports which pod's container holds which TPU chip.
func (p *Probe) podSeries(ctx context.Context) []prometheus.Metric {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	allocs, err := p.pods.TPUAllocations(ctx)
	if err != nil {
		p.env.Log.Warn("TPU allocations from the kubelet", "err", err)
		return nil
	}
	return gpu.AllocatedSeries(allocs, vendor, gpu.DeviceIDAsIs)
}
