package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/orb8/orb8/internal/humanize"
	"github.com/orb8/orb8/internal/insights"
)

// prometheusEnv is where --prometheus defaults from.
const prometheusEnv = "ORB8_PROMETHEUS_URL"

// insightsOptions are the flags every insights command shares: where the
// history is, which stretch of it, which workloads, how to print.
type insightsOptions struct {
	prometheus string
	window     string
	end        string
	namespace  string
	selector   string
	pod        string
	cgroup     string
	workload   string
	output     string
	timeout    time.Duration
	outputs    []string // what -o takes
}

func (o *insightsOptions) bind(fs *pflag.FlagSet, window string, outputs ...string) {
	o.outputs = append([]string{"table", "json", "yaml"}, outputs...)
	fs.StringVar(&o.prometheus, "prometheus", os.Getenv(prometheusEnv), "URL of the Prometheus HTTP API holding orb8's series (or Thanos, Mimir, ...), e.g. http://prometheus:9090 (default $"+prometheusEnv+")")
	if window != "" { // orb8 ask reads the range from the question
		fs.StringVar(&o.window, "window", window, "how much history to read, up to --end: 6h, 7d, 2w")
	}
	fs.StringVar(&o.end, "end", "now", "end of the window: now, RFC 3339 (2026-12-01T00:00:00Z) or unix seconds")
	fs.StringVarP(&o.namespace, "namespace", "n", "", "only workloads of this Kubernetes namespace")
	fs.StringVarP(&o.selector, "selector", "l", "", "only series whose labels match, e.g. owner_kind=Deployment,container!=istio-proxy (labels: namespace, pod, container, cgroup, owner_kind, owner_name, image, revision)")
	fs.StringVar(&o.pod, "pod", "", "only this pod (a trailing * matches a prefix)")
	fs.StringVar(&o.cgroup, "cgroup", "", "only this cgroup path (a trailing / matches everything below it)")
	fs.StringVar(&o.workload, "workload", "", "only this workload: a Deployment, StatefulSet, ... name, else a pod name or its prefix")
	fs.StringVarP(&o.output, "output", "o", "table", strings.Join(o.outputs, ", "))
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "how long to wait for Prometheus")
}

// parsed is what the flags say, checked.
type parsed struct {
	source insights.Source
	filter insights.Filter
	window insights.Window
}

// parse checks the flags before anything is dialled; step is the least
// step of the window (it grows with the window, up to 5,000 points). A
// command without --window gets only the window's end.
func (o *insightsOptions) parse(step time.Duration) (parsed, error) {
	var p parsed
	valid := false
	for _, f := range o.outputs {
		valid = valid || f == o.output
	}
	if !valid {
		return p, fmt.Errorf("invalid --output %q: want %s", o.output, strings.Join(o.outputs, ", "))
	}
	if o.prometheus == "" {
		return p, fmt.Errorf("--prometheus is required: the URL of the Prometheus that scrapes orb8, e.g. --prometheus http://prometheus:9090 (or set $%s)", prometheusEnv)
	}
	end, err := parseEnd(o.end)
	if err != nil {
		return p, err
	}
	p.window.End = end
	if o.window != "" {
		length, err := model.ParseDuration(o.window)
		if err != nil {
			return p, fmt.Errorf("invalid --window %q: want a duration such as 6h, 7d or 2w", o.window)
		}
		if p.window, err = insights.NewWindow(end, time.Duration(length), step); err != nil {
			return p, err
		}
	}
	if o.cgroup != "" && !strings.HasPrefix(o.cgroup, "/") {
		return p, fmt.Errorf("invalid --cgroup %q: want a path starting with /", o.cgroup)
	}
	p.filter = insights.Filter{Namespace: o.namespace, Pod: o.pod, Cgroup: o.cgroup, Workload: o.workload}
	if o.selector != "" {
		if p.filter.Selector, err = insights.ParseSelector(o.selector); err != nil {
			return p, fmt.Errorf("%s", humanize.OneLine(err.Error()))
		}
	}
	if err := p.filter.Validate(); err != nil {
		return p, err
	}
	if o.timeout <= 0 {
		return p, fmt.Errorf("--timeout must be positive, e.g. 60s")
	}
	if p.source, err = insights.NewClient(o.prometheus, o.timeout); err != nil {
		return p, err
	}
	return p, nil
}

func parseEnd(s string) (time.Time, error) {
	if s == "" || s == "now" {
		return time.Now(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Unix(0, int64(secs*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("invalid --end %q: want now, RFC 3339 (2026-12-01T00:00:00Z) or unix seconds", s)
}

func newInsightsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "insights",
		Short: "Right-sizing, cost, forecasts and regressions from orb8's history in Prometheus",
		Long: `Insights read the history of orb8's series through the Prometheus HTTP query API
(Prometheus, Thanos, Mimir, ...): they work on whatever retention you already run.
docs/insights.md explains each algorithm, its parameters and its measured accuracy.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newRecommendCmd(), newCostCmd(), newForecastCmd(), newRegressionsCmd())
	return cmd
}

func newRecommendCmd() *cobra.Command {
	var (
		o    insightsOptions
		opts = insights.DefaultRecommend
	)
	cmd := &cobra.Command{
		Use:   "recommend",
		Short: "CPU and memory requests per container, from their usage history",
		Long: `Recommends CPU and memory requests (and limits with --limits) per container of each
workload (all pods of a Deployment, StatefulSet, ... together): CPU at the P90 of the
demand (usage plus throttled time), each sample weighted by its age, plus 15%; memory at
the highest usage seen plus 15%, more after OOM kills. Shows the evidence, the change
against the current requests and the risks. -o patch prints kubectl patch commands,
-o vpa VerticalPodAutoscaler objects with the recommendation as their floor.`,
		Example: `  orb8 insights recommend --prometheus http://prometheus:9090 --window 7d -n shop
  orb8 insights recommend --prometheus http://prometheus:9090 --workload web -o patch`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := o.parse(time.Minute)
			if err != nil {
				return err
			}
			if opts.CPUPercentile <= 0 || opts.CPUPercentile > 1 || opts.Margin < 0 || opts.HalfLife <= 0 {
				return fmt.Errorf("--cpu-percentile must be in (0, 1], --margin >= 0, --half-life > 0")
			}
			opts.Filter, opts.Window = p.filter, p.window
			recs, err := insights.Recommend(c.Context(), p.source, opts)
			if err != nil {
				return err
			}
			return printRecommendations(c, o.output, recs)
		},
	}
	o.bind(cmd.Flags(), "7d", "patch", "vpa")
	cmd.Flags().Float64Var(&opts.CPUPercentile, "cpu-percentile", opts.CPUPercentile, "percentile of the CPU demand samples the CPU request covers")
	cmd.Flags().Float64Var(&opts.Margin, "margin", opts.Margin, "safety margin added to CPU and memory (0.15: +15%)")
	cmd.Flags().DurationVar(&opts.HalfLife, "half-life", opts.HalfLife, "a sample this much older than --end weighs half")
	cmd.Flags().BoolVar(&opts.Limits, "limits", false, "also recommend limits (memory: the request; CPU: the P99 of the demand plus the margin)")
	return cmd
}

func newCostCmd() *cobra.Command {
	var (
		o         insightsOptions
		prices    insights.Prices
		priceFile string
		by        string
	)
	cmd := &cobra.Command{
		Use:   "cost",
		Short: "Cost per workload, namespace or node over the window",
		Long: `Prices each workload's allocation, max(request, usage) of CPU and memory and its GPU
requests, over the time it ran (OpenCost's allocation model), and each node by its type's
price (--price-file node_types) or its capacity at the resource prices, with what no
workload was allocated as idle. GPU time allocated but not busy is shown as gpu_idle_cost.`,
		Example: `  orb8 insights cost --prometheus http://prometheus:9090 --window 30d --price-cpu-core-hour 0.0316 --price-memory-gib-hour 0.0042
  orb8 insights cost --prometheus http://prometheus:9090 --price-file prices.yaml --by node`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := o.parse(time.Minute)
			if err != nil {
				return err
			}
			ps, err := mergePrices(c.Flags(), priceFile, prices)
			if err != nil {
				return err
			}
			switch insights.CostBy(by) {
			case insights.ByWorkload, insights.ByNamespace, insights.ByNode:
			default:
				return fmt.Errorf("invalid --by %q: want workload, namespace or node", by)
			}
			rows, err := insights.Cost(c.Context(), p.source, insights.CostOptions{Filter: p.filter, Window: p.window, Prices: ps, By: insights.CostBy(by)})
			if err != nil {
				return err
			}
			return printCost(c, o.output, insights.CostBy(by), rows)
		},
	}
	o.bind(cmd.Flags(), "7d")
	cmd.Flags().Float64Var(&prices.CPUCoreHour, "price-cpu-core-hour", 0, "price of a CPU core for an hour")
	cmd.Flags().Float64Var(&prices.MemoryGiBHour, "price-memory-gib-hour", 0, "price of a GiB of memory for an hour")
	cmd.Flags().Float64Var(&prices.GPUHour, "price-gpu-hour", 0, "price of a GPU for an hour")
	cmd.Flags().StringVar(&priceFile, "price-file", "", "YAML or JSON prices: cpu_core_hour, memory_gib_hour, gpu_hour, node_types {TYPE: per node-hour}; flags override it")
	cmd.Flags().StringVar(&by, "by", string(insights.ByWorkload), "rows per workload, namespace or node")
	return cmd
}

// mergePrices reads the price file and lets the price flags given override it.
func mergePrices(fs *pflag.FlagSet, file string, flags insights.Prices) (insights.Prices, error) {
	var p insights.Prices
	if file != "" {
		var err error
		if p, err = insights.LoadPrices(file); err != nil {
			return p, err
		}
	}
	for name, v := range map[string]float64{"price-cpu-core-hour": flags.CPUCoreHour, "price-memory-gib-hour": flags.MemoryGiBHour, "price-gpu-hour": flags.GPUHour} {
		if !fs.Changed(name) {
			continue
		}
		if v < 0 {
			return p, fmt.Errorf("invalid --%s %v: prices are not negative", name, v)
		}
		switch name {
		case "price-cpu-core-hour":
			p.CPUCoreHour = v
		case "price-memory-gib-hour":
			p.MemoryGiBHour = v
		case "price-gpu-hour":
			p.GPUHour = v
		}
	}
	return p, nil
}

func newForecastCmd() *cobra.Command {
	var (
		o    insightsOptions
		opts = insights.ForecastOptions{Horizon: 24 * time.Hour, TargetUtilization: 0.7}
		step time.Duration
	)
	cmd := &cobra.Command{
		Use:   "forecast",
		Short: "Seasonal forecasts of CPU and request rate, and the replicas they need",
		Long: `Forecasts each workload's CPU (all its pods) and server request rate with Holt-Winters,
trying a daily and a weekly season and keeping the one with the smaller error on the
held-out last day (reported, with a seasonal-naive forecast's). From the CPU peak it
sizes the replicas that keep the pods' CPU requests at --target-utilization, and compares
them with the HPA when kube-state-metrics series are in Prometheus.`,
		Example: `  orb8 insights forecast --prometheus http://prometheus:9090 --window 21d --workload checkout`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if step < time.Minute || opts.Horizon < step || opts.TargetUtilization <= 0 || opts.TargetUtilization > 1 {
				return fmt.Errorf("--step must be at least 1m, --horizon at least a step, --target-utilization in (0, 1]")
			}
			p, err := o.parse(step)
			if err != nil {
				return err
			}
			opts.Filter, opts.Window = p.filter, p.window
			fcs, err := insights.Forecasts(c.Context(), p.source, opts)
			if err != nil {
				return err
			}
			return printForecasts(c, o.output, fcs)
		},
	}
	o.bind(cmd.Flags(), "14d")
	cmd.Flags().DurationVar(&opts.Horizon, "horizon", opts.Horizon, "how far ahead to forecast")
	cmd.Flags().DurationVar(&step, "step", time.Hour, "the model's step")
	cmd.Flags().Float64Var(&opts.TargetUtilization, "target-utilization", opts.TargetUtilization, "share of the pods' CPU requests to use at the forecast peak")
	return cmd
}

func newRegressionsCmd() *cobra.Command {
	var (
		o    insightsOptions
		opts = insights.DefaultRegress
		all  bool
	)
	cmd := &cobra.Command{
		Use:   "regressions",
		Short: "Rollouts that made latency, errors, CPU per request or memory worse",
		Long: `Finds the rollouts of the window (a new image or pod template revision in
orb8_workload_info) and compares each workload before and after: server request latency
and error ratio, DNS latency, run-queue wait per timeslice, CPU per request and memory. A change is
reported when a Mann-Whitney test finds it significant (--alpha) and it is at least
--min-change of the value before (a point for error ratios). --all prints every comparison.`,
		Example: `  orb8 insights regressions --prometheus http://prometheus:9090 --window 1d -n shop`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if opts.Alpha <= 0 || opts.Alpha >= 1 || opts.MinChange < 0 || opts.Compare <= 0 || opts.Settle < 0 {
				return fmt.Errorf("--alpha must be in (0, 1), --min-change >= 0, --compare > 0, --settle >= 0")
			}
			p, err := o.parse(time.Minute)
			if err != nil {
				return err
			}
			opts.Filter, opts.Window = p.filter, p.window
			cmps, rollouts, err := insights.Regressions(c.Context(), p.source, opts)
			if err != nil {
				return err
			}
			return printRegressions(c, o.output, cmps, rollouts, all)
		},
	}
	o.bind(cmd.Flags(), "1d")
	cmd.Flags().DurationVar(&opts.Compare, "compare", opts.Compare, "history compared on each side of a rollout")
	cmd.Flags().DurationVar(&opts.Settle, "settle", opts.Settle, "time after a rollout left out (pods starting)")
	cmd.Flags().Float64Var(&opts.Alpha, "alpha", opts.Alpha, "significance level of the Mann-Whitney test")
	cmd.Flags().Float64Var(&opts.MinChange, "min-change", opts.MinChange, "least relative change reported (0.1: 10%)")
	cmd.Flags().BoolVar(&all, "all", false, "print every comparison, not only regressions")
	return cmd
}
