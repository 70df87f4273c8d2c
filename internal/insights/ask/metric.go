package ask

import (
	"slices"
	"sort"
	"strings"
)

// metricRule maps cue words to a metric: the rule matches when a token of
// every group is present (a group of one word: that word). Rules are tried
// in order, the most specific first ("gpu memory" before "memory").
type metricRule struct {
	metric string
	groups [][]string
	// weak: a vague cue ("slow") that names a metric for ranking but not
	// for a rollout comparison ("did it get slower" asks about everything).
	weak bool
}

var (
	dnsWords     = []string{"dns", "lookup", "lookups", "nxdomain", "servfail"}
	failWords    = []string{"failure", "failures", "failed", "failing", "fail", "fails", "error", "errors", "nxdomain", "servfail"}
	slowWords    = []string{"slow", "slower", "slowest"}
	latencyWords = []string{"latency", "latencies", "response", "time"}
	connWords    = []string{"connection", "connections", "connect", "connects"}
	sendWords    = []string{"send", "sends", "sent", "sending", "outgoing", "egress", "tx", "upload", "uploads"}
	recvWords    = []string{"receive", "receives", "received", "receiving", "incoming", "rx", "download", "downloads"}
	trafficWords = []string{"traffic", "bytes", "data", "network", "bandwidth", "talkers"}
)

var metricRules = []metricRule{
	{metric: "gpu_memory", groups: [][]string{{"gpu", "gpus"}, {"memory", "mem"}}},
	{metric: "gpu_memory", groups: [][]string{{"vram"}}},
	{metric: "gpu_utilization", groups: [][]string{{"gpu", "gpus", "gpu-utilization"}}},
	{metric: "dns_failures", groups: [][]string{dnsWords, failWords}},
	{metric: "dns_failures", groups: [][]string{{"nxdomain", "servfail"}}},
	{metric: "dns_latency", groups: [][]string{dnsWords, append(append([]string{}, latencyWords...), slowWords...)}},
	{metric: "dns_queries", groups: [][]string{dnsWords}},
	{metric: "runqueue_latency", groups: [][]string{{"runqueue", "run-queue", "scheduler", "scheduling"}}},
	{metric: "runqueue_latency", groups: [][]string{{"run"}, {"queue"}}},
	{metric: "runqueue_latency", groups: [][]string{{"wait", "waits", "waiting"}, {"cpu", "cpus"}}},
	{metric: "cpu_throttling", groups: [][]string{{"throttled", "throttling", "throttle", "throttles"}}},
	{metric: "oom_kills", groups: [][]string{{"oom", "ooms", "oomkilled", "oom-killed"}}},
	{metric: "crashes", groups: [][]string{{"crash", "crashes", "crashed", "crashing", "segfault", "segfaults", "restart", "restarts", "restarted", "restarting"}}},
	{metric: "tcp_retransmits", groups: [][]string{{"retransmit", "retransmits", "retransmission", "retransmissions", "retransmitted"}}},
	{metric: "tcp_retransmits", groups: [][]string{{"packet", "packets"}, {"loss", "lost", "drops", "dropped"}}},
	{metric: "tcp_failed_connections", groups: [][]string{connWords, append([]string{"refused"}, failWords...)}},
	{metric: "tcp_failed_connections", groups: [][]string{{"refused"}}},
	{metric: "execs", groups: [][]string{{"exec", "execs", "execve"}}},
	{metric: "execs", groups: [][]string{{"process", "processes"}, {"start", "starts", "started", "starting", "spawn", "spawns", "spawned"}}},
	{metric: "open_fds", groups: [][]string{{"fd", "fds", "descriptor", "descriptors"}}},
	{metric: "open_fds", groups: [][]string{{"open"}, {"files", "file"}}},
	{metric: "http_errors", groups: [][]string{{"5xx", "error", "errors", "500", "500s"}}},
	{metric: "http_errors", groups: [][]string{{"failing", "failed"}, {"request", "requests"}}},
	{metric: "http_latency", groups: [][]string{{"latency", "latencies"}}},
	{metric: "http_latency", groups: [][]string{{"response"}, {"time", "times"}}},
	{metric: "http_latency", groups: [][]string{slowWords}, weak: true},
	{metric: "http_requests", groups: [][]string{{"request", "requests", "rps", "qps", "serve", "serves", "served", "hits"}}},
	{metric: "network_tx", groups: [][]string{sendWords, trafficWords}},
	{metric: "network_tx", groups: [][]string{{"outgoing", "egress"}}},
	{metric: "network_rx", groups: [][]string{recvWords, trafficWords}},
	{metric: "network_rx", groups: [][]string{{"incoming"}}},
	{metric: "network_bytes", groups: [][]string{trafficWords}},
	{metric: "network_bytes", groups: [][]string{{"noisiest", "noisy", "chattiest", "chatty"}}},
	{metric: "memory", groups: [][]string{{"memory", "mem", "ram", "rss"}}},
	{metric: "cpu", groups: [][]string{{"cpu", "cpus", "cores", "core", "processor", "busy", "busiest", "hot", "hottest", "compute"}}},
}

// metric finds the metric a question is about: the first rule whose cue
// words are all present. A forecast's "traffic" is its request rate; a
// forecast of replicas is a CPU forecast.
func (p *parser) metric() {
	present := map[string]bool{}
	for i, t := range p.tok {
		if !p.used[i] {
			present[t] = true
		}
	}
	for _, r := range metricRules {
		if r.weak && p.q.Intent == IntentRegressions || r.metric == "http_requests" && p.q.Intent == IntentRecommend {
			continue // vague for a rollout; a recommendation's "request" is a resource request
		}
		match := true
		for _, g := range r.groups {
			if !slices.ContainsFunc(g, func(w string) bool { return present[w] }) {
				match = false
				break
			}
		}
		if match {
			p.q.Metric = r.metric
			break
		}
	}
	if p.q.Intent == IntentForecast {
		switch {
		case p.q.Metric == "network_bytes" || p.q.Metric == "network_rx" || p.has("load") && p.q.Metric == "http_requests":
			p.q.Metric = "http_requests"
		case p.q.Metric == "" && p.hasPrefix("replica", "scale", "pods"):
			p.q.Metric = "cpu"
		}
	}
}

// trimForIntent drops what an intent does not use: a cost has no metric,
// a recommendation only cpu or memory, a forecast only cpu or requests.
func (p *parser) trimForIntent() {
	switch p.q.Intent {
	case IntentCost:
		p.q.Metric = ""
		if !p.has("idle") && p.q.Order == "" && p.hasPrefix("cheap") {
			p.q.Order = "asc"
		}
	case IntentRecommend:
		if p.q.Metric != "cpu" && p.q.Metric != "memory" {
			p.q.Metric = ""
		}
		if p.has("cpu", "cpus", "cores") && p.has("memory", "mem", "ram") {
			p.q.Metric = "" // both: the whole recommendation
		}
	case IntentForecast:
		if p.q.Metric != "cpu" && p.q.Metric != "http_requests" {
			p.q.Metric = ""
		}
	}
	if p.q.Intent != IntentTop {
		p.q.Order, p.q.Limit = orderForCost(p), 0
	}
	if p.q.Intent == IntentRegressions || p.q.Intent == IntentForecast || p.q.Intent == IntentValue {
		p.q.Kind = "" // about one workload, or every rollout
	}
	if p.q.Intent != IntentForecast {
		p.q.Horizon = ""
	}
	if p.q.Intent != IntentCost {
		p.q.Per = ""
	}
}

func orderForCost(p *parser) string {
	if p.q.Intent == IntentCost {
		return p.q.Order
	}
	return ""
}

// metricNames are the metrics questions can be about.
func metricNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range metricRules {
		if !seen[r.metric] {
			seen[r.metric] = true
			out = append(out, strings.ReplaceAll(r.metric, "_", " "))
		}
	}
	sort.Strings(out)
	return out
}
