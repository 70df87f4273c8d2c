package promtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Generated histories with known truth, for the insights tests. Each lives
// in a namespace of its own, so one server can serve them all.

// Pod is the identity of one container's series, as the agent labels them
// and a Prometheus scrape of the agent on node adds instance and job.
type Pod struct {
	Namespace, Name, Container, Node string
	UID, ContainerID                 string
}

// NewPod names a pod's container with ids derived from its name.
func NewPod(namespace, name, container, node string) Pod {
	id := fmt.Sprintf("%x", name+"/"+container)
	for len(id) < 64 {
		id += id
	}
	return Pod{Namespace: namespace, Name: name, Container: container, Node: node, UID: "uid-" + name, ContainerID: id[:64]}
}

// Cgroup is the container's cgroup path (kubelet's cgroupfs driver).
func (p Pod) Cgroup() string { return "/kubepods/burstable/pod" + p.UID + "/" + p.ContainerID }

// Labels are the series labels, with extra pairs.
func (p Pod) Labels(extra ...string) map[string]string {
	l := map[string]string{
		"namespace": p.Namespace, "pod": p.Name, "container": p.Container, "cgroup": p.Cgroup(),
		"instance": p.Node + ":9808", "job": "orb8",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

// Owner is what orb8_workload_info says of a pod.
type Owner struct{ Kind, Name, Image, Revision string }

// every calls fn at each step from start to end inclusive.
func every(start, end time.Time, step time.Duration, fn func(t time.Time)) {
	for t := start; !t.After(end); t = t.Add(step) {
		fn(t)
	}
}

// info adds the pod's orb8_workload_info and its requests (cores, bytes;
// zero: none) at every step.
func (h *History) info(p Pod, o Owner, start, end time.Time, step time.Duration, cpuReq, memReq float64) {
	every(start, end, step, func(t time.Time) {
		h.Add("orb8_workload_info", p.Labels("owner_kind", o.Kind, "owner_name", o.Name, "image", o.Image, "revision", o.Revision), t, 1)
		if cpuReq > 0 {
			h.Add("orb8_workload_resource_requests", p.Labels("resource", "cpu"), t, cpuReq)
		}
		if memReq > 0 {
			h.Add("orb8_workload_resource_requests", p.Labels("resource", "memory"), t, memReq)
		}
	})
}

const (
	// ScrapeInterval of the generated histories but the weekly one.
	ScrapeInterval = 15 * time.Second
	MiB            = 1 << 20
	GiB            = 1 << 30
)

// AcceptancePod is the one workload of the acceptance history.
var AcceptancePod = NewPod("accept", "api-7d9f6-x2x9k", "api", "node-1")

// Acceptance is six hours up to end of one workload: CPU uniform in
// 0.4-0.6 cores in each scrape interval, memory uniform in 180-220 MiB with
// one 250 MiB peak, requests of 0.25 cores and 128 MiB (both below use).
func (h *History) Acceptance(end time.Time) {
	r := rand.New(rand.NewPCG(22, 1))
	p, start := AcceptancePod, end.Add(-6*time.Hour)
	h.info(p, Owner{"Deployment", "api", "api:1.4", "7d9f6"}, start, end, ScrapeInterval, 0.25, 128*MiB)
	peak := start.Add(3 * time.Hour)
	cpu := 0.0
	every(start, end, ScrapeInterval, func(t time.Time) {
		h.Add("orb8_cpu_usage_seconds_total", p.Labels(), t, cpu)
		cpu += (0.4 + 0.2*r.Float64()) * ScrapeInterval.Seconds()
		mem := (180 + 40*r.Float64()) * MiB
		if t.Equal(peak) {
			mem = 250 * MiB
		}
		h.Add("orb8_memory_usage_bytes", p.Labels(), t, math.Round(mem))
	})
}

// Pricing is seven hours up to end of two workloads with constant use, so
// their cost can be worked out by hand (see the test):
//   - pricing/web on node-b: 0.25 cores used of 0.5 requested, 1 GiB used
//     of 512 MiB requested;
//   - pricing/train on node-a: 2 cores used of 1 requested, 4 GiB used of
//     8 GiB requested, 1 GPU requested, 25% busy.
//
// node-a (m5.large) has 4 cores, 16 GiB and 1 GPU; node-b (no type) has 2
// cores and 8 GiB.
func (h *History) Pricing(end time.Time) {
	start := end.Add(-7 * time.Hour)
	web := NewPod("pricing", "web-5d4f8-abcde", "web", "node-b")
	train := NewPod("pricing", "train-0", "train", "node-a")
	h.info(web, Owner{"Deployment", "web", "web:2", "5d4f8"}, start, end, ScrapeInterval, 0.5, 512*MiB)
	h.info(train, Owner{"StatefulSet", "train", "train:7", "train-6c"}, start, end, ScrapeInterval, 1, 8*GiB)
	every(start, end, ScrapeInterval, func(t time.Time) {
		s := t.Sub(start).Seconds()
		h.Add("orb8_cpu_usage_seconds_total", web.Labels(), t, 0.25*s)
		h.Add("orb8_memory_usage_bytes", web.Labels(), t, 1*GiB)
		h.Add("orb8_cpu_usage_seconds_total", train.Labels(), t, 2*s)
		h.Add("orb8_memory_usage_bytes", train.Labels(), t, 4*GiB)
		h.Add("orb8_workload_resource_requests", train.Labels("resource", "nvidia.com/gpu"), t, 1)
		h.Add("orb8_workload_accelerator_utilization_ratio", train.Labels("vendor", "nvidia", "device", "0", "uuid", "GPU-0"), t, 0.25)
		for _, n := range []struct {
			node, typ      string
			cpu, mem, gpus float64
		}{{"node-a", "m5.large", 4, 16 * GiB, 1}, {"node-b", "", 2, 8 * GiB, 0}} {
			l := map[string]string{"instance": n.node + ":9808", "job": "orb8", "node": n.node}
			with := func(k, v string) map[string]string {
				out := map[string]string{k: v}
				for a, b := range l {
					out[a] = b
				}
				return out
			}
			h.Add("orb8_node_capacity", with("resource", "cpu"), t, n.cpu)
			h.Add("orb8_node_capacity", with("resource", "memory"), t, n.mem)
			if n.gpus > 0 {
				h.Add("orb8_node_capacity", with("resource", "nvidia.com/gpu"), t, n.gpus)
			}
			if n.typ != "" {
				lbl := with("key", "node.kubernetes.io/instance-type")
				lbl["value"] = n.typ
				h.Add("orb8_node_label", lbl, t, 1)
			}
		}
	})
}

// RolloutAt is when the rollouts of the Rollouts history happen, before its end.
const RolloutAt = 3 * time.Hour

// Rollouts is six hours up to end of two Deployments serving 10 requests
// a second, each rolled out RolloutAt before end (a new ReplicaSet, pod,
// image and revision): checkout's mean latency goes from 100 ms to 130 ms
// (+30%), cart's from 100 ms to 102 ms (+2%). Latency is noisy (5% per
// scrape interval); errors (0.5% of requests), CPU per request and memory
// stay as they were.
func (h *History) Rollouts(end time.Time) {
	r := rand.New(rand.NewPCG(22, 2))
	start, at := end.Add(-6*time.Hour), end.Add(-RolloutAt)
	for _, d := range []struct {
		name   string
		factor float64
	}{{"checkout", 1.30}, {"cart", 1.02}} {
		old := NewPod("rollouts", d.name+"-6f7c9-aaaaa", d.name, "node-1")
		cur := NewPod("rollouts", d.name+"-84b2d-bbbbb", d.name, "node-1")
		h.info(old, Owner{"Deployment", d.name, d.name + ":1", "6f7c9"}, start, at.Add(-ScrapeInterval), ScrapeInterval, 0.5, 256*MiB)
		h.info(cur, Owner{"Deployment", d.name, d.name + ":2", "84b2d"}, at, end, ScrapeInterval, 0.5, 256*MiB)
		var reqs, errs, durSum, cpu float64
		every(start, end, ScrapeInterval, func(t time.Time) {
			p, lat := old, 0.100
			if !t.Before(at) {
				p, lat = cur, 0.100*d.factor
				if t.Equal(at) { // a new pod's counters start at zero
					reqs, errs, durSum, cpu = 0, 0, 0, 0
				}
			}
			h.Add("orb8_http_requests_total", p.Labels("direction", "server", "method", "GET", "status_code", "200"), t, reqs-errs)
			h.Add("orb8_http_requests_total", p.Labels("direction", "server", "method", "GET", "status_code", "500"), t, errs)
			h.Add("orb8_http_request_duration_seconds_count", p.Labels("direction", "server"), t, reqs)
			h.Add("orb8_http_request_duration_seconds_sum", p.Labels("direction", "server"), t, durSum)
			h.Add("orb8_cpu_usage_seconds_total", p.Labels(), t, cpu)
			h.Add("orb8_memory_usage_bytes", p.Labels(), t, math.Round((300+6*r.NormFloat64())*MiB))
			n := 150.0 // 10/s
			reqs += n
			errs += math.Round(n * 0.005 * (1 + 0.5*r.NormFloat64()))
			durSum += n * lat * (1 + 0.05*r.NormFloat64())
			cpu += n * 0.002 * (1 + 0.05*r.NormFloat64())
		})
	}
}

// WeeklyReplicasNow and WeeklyCPURequest describe the Weekly workload.
const (
	WeeklyReplicasNow = 2
	WeeklyCPURequest  = 0.25 // cores per pod
	WeeklyStep        = 5 * time.Minute
	// The Weekly workload's HPA (kube-state-metrics series): its
	// maxReplicas is below what the forecast peak needs.
	WeeklyHPAMin = 2
	WeeklyHPAMax = 4
)

// WeeklyRate is the noise-free request rate (requests/s, whole workload)
// of the Weekly history at t: a daily wave peaking at 15:00 UTC, halved on
// Saturdays and Sundays.
func WeeklyRate(t time.Time) float64 {
	t = t.UTC()
	h := float64(t.Hour()) + float64(t.Minute())/60
	r := 100 + 60*math.Sin(2*math.Pi*(h-9)/24)
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		r *= 0.5
	}
	return r
}

// WeeklyCPU is the workload's noise-free CPU (cores, all pods) at request
// rate r: 0.1 cores per pod at rest plus 4 ms per request.
func WeeklyCPU(r float64) float64 { return WeeklyReplicasNow*0.1 + 0.004*r }

// Weekly is 21 days up to end of a Deployment of WeeklyReplicasNow pods
// (scraped every 5 minutes) whose load follows WeeklyRate with 3% noise,
// scaled by an HPA of WeeklyHPAMin-WeeklyHPAMax replicas as
// kube-state-metrics reports it.
func (h *History) Weekly(end time.Time) {
	r := rand.New(rand.NewPCG(22, 3))
	start := end.Add(-21 * 24 * time.Hour)
	var pods []Pod
	for i := range WeeklyReplicasNow {
		p := NewPod("seasonal", fmt.Sprintf("shop-7b8c9-%05d", i), "shop", "node-1")
		h.info(p, Owner{"Deployment", "shop", "shop:3", "7b8c9"}, start, end, WeeklyStep, WeeklyCPURequest, 0)
		pods = append(pods, p)
	}
	hpa := map[string]string{"namespace": "seasonal", "horizontalpodautoscaler": "shop"}
	info := map[string]string{"scaletargetref_api_version": "apps/v1", "scaletargetref_kind": "Deployment", "scaletargetref_name": "shop"}
	for k, v := range hpa {
		info[k] = v
	}
	reqs := make([]float64, len(pods))
	cpu := make([]float64, len(pods))
	every(start, end, WeeklyStep, func(t time.Time) {
		h.Add("kube_horizontalpodautoscaler_info", info, t, 1)
		h.Add("kube_horizontalpodautoscaler_spec_min_replicas", hpa, t, WeeklyHPAMin)
		h.Add("kube_horizontalpodautoscaler_spec_max_replicas", hpa, t, WeeklyHPAMax)
		rate := WeeklyRate(t) * (1 + 0.03*r.NormFloat64())
		for i, p := range pods {
			h.Add("orb8_http_requests_total", p.Labels("direction", "server", "method", "GET", "status_code", "200"), t, math.Round(reqs[i]))
			h.Add("orb8_cpu_usage_seconds_total", p.Labels(), t, cpu[i])
			share := rate / float64(len(pods))
			reqs[i] += share * WeeklyStep.Seconds()
			cpu[i] += (0.1 + 0.004*share) * WeeklyStep.Seconds()
		}
	})
}

// DNSFailuresPerHour are the failed lookups (NXDOMAIN and SERVFAIL) per
// hour of the pods of the DNS history; every pod also makes 600 good ones.
var DNSFailuresPerHour = map[string]float64{"cart-1": 120, "web-1": 30, "db-1": 0}

// DNS is two hours up to end of three pods of namespace shop looking names up.
func (h *History) DNS(end time.Time) {
	start := end.Add(-2 * time.Hour)
	for pod, failures := range DNSFailuresPerHour {
		p := NewPod("shop", pod, pod[:len(pod)-2], "node-1")
		every(start, end, ScrapeInterval, func(t time.Time) {
			hours := t.Sub(start).Hours()
			ok := 600 * hours
			h.Add("orb8_dns_responses_total", p.Labels("qtype", "A", "rcode", "NOERROR"), t, ok)
			h.Add("orb8_dns_responses_total", p.Labels("qtype", "A", "rcode", "NXDOMAIN"), t, failures*hours*0.75)
			h.Add("orb8_dns_responses_total", p.Labels("qtype", "A", "rcode", "SERVFAIL"), t, failures*hours*0.25)
			h.Add("orb8_dns_queries_total", p.Labels("qtype", "A"), t, ok+failures*hours)
		})
	}
}

// All is every history above, ending at end.
func All(end time.Time) *History {
	h := NewHistory()
	h.Acceptance(end)
	h.Pricing(end)
	h.Rollouts(end)
	h.Weekly(end)
	h.DNS(end)
	return h
}
