package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/orb8/orb8/internal/humanize"
	"github.com/orb8/orb8/internal/insights"
	"github.com/orb8/orb8/internal/insights/ask"
)

func newAskCmd() *cobra.Command {
	var (
		o         insightsOptions
		prices    insights.Prices
		priceFile string
	)
	cmd := &cobra.Command{
		Use:   `ask "QUESTION"`,
		Short: "Answer a question in plain words from orb8's history in Prometheus",
		Long: `Parses a question into a structured query (intent, metric, filters, time range),
prints that query, then runs it as one of the insights and prints the answer. The parser is
deterministic (no model): the same question always runs the same query, and a question it
cannot parse gets told what it can answer.

It ranks pods, containers, workloads or namespaces by a metric, shows one workload's metric,
prices workloads, namespaces or nodes (give prices as for 'insights cost'), recommends
requests, forecasts load and replicas, and compares before and after rollouts.`,
		Example: `  orb8 ask --prometheus http://prometheus:9090 "which pods in shop had the most DNS failures in the last hour"
  orb8 ask --prometheus http://prometheus:9090 --price-file prices.yaml "what would web cost per month"
  orb8 ask --prometheus http://prometheus:9090 "did the last rollout of checkout slow it down"`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			q, err := ask.Parse(args[0])
			if err != nil {
				return err
			}
			p, err := o.parse(time.Minute)
			if err != nil {
				return err
			}
			env := ask.Env{Source: p.source, End: p.window.End}
			if q.Intent == ask.IntentCost {
				if env.Prices, err = mergePrices(c.Flags(), priceFile, prices); err != nil {
					return err
				}
			}
			resolved := ask.Resolve(q)
			if err := printQuery(c, o.output, resolved); err != nil {
				return err
			}
			a, err := ask.Run(c.Context(), q, env)
			if err != nil {
				return err
			}
			return printAnswer(c, o.output, a)
		},
	}
	o.bind(cmd.Flags(), "") // the question says the time range
	cmd.Flags().Float64Var(&prices.CPUCoreHour, "price-cpu-core-hour", 0, "price of a CPU core for an hour (cost questions)")
	cmd.Flags().Float64Var(&prices.MemoryGiBHour, "price-memory-gib-hour", 0, "price of a GiB of memory for an hour (cost questions)")
	cmd.Flags().Float64Var(&prices.GPUHour, "price-gpu-hour", 0, "price of a GPU for an hour (cost questions)")
	cmd.Flags().StringVar(&priceFile, "price-file", "", "YAML or JSON prices, as for 'orb8 insights cost'")
	return cmd
}

// printQuery prints the structured query before the answer: a line of its
// own in tables, the first JSON line, the first YAML document.
func printQuery(c *cobra.Command, format string, q ask.Query) error {
	out := c.OutOrStdout()
	switch format {
	case "json":
		data, err := json.Marshal(map[string]ask.Query{"query": q})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s\n", data)
		return err
	case "yaml":
		data, err := jsonToYAML(map[string]ask.Query{"query": q})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s---\n", data)
		return err
	}
	_, err := fmt.Fprintf(out, "query: %s\n\n", humanize.Safe(q.String()))
	return err
}

func printAnswer(c *cobra.Command, format string, a ask.Answer) error {
	q := a.Query
	switch q.Intent {
	case ask.IntentCost:
		return printCostPer(c, format, q.CostBy(), a.Cost, q.Per)
	case ask.IntentRecommend:
		return printRecommendations(c, format, a.Recommendations)
	case ask.IntentForecast:
		return printForecasts(c, format, a.Forecasts)
	case ask.IntentRegressions:
		return printRegressions(c, format, a.Comparisons, a.Rollouts, true)
	}
	p := newValuePrinter(c.OutOrStdout(), format, []string{"NAMESPACE", "NAME", "METRIC", "VALUE"}, func(r insights.RankRow) []string {
		return []string{humanize.Dash(r.Namespace), r.Name(), strings.ReplaceAll(r.Metric, "_", " "), rankValue(r)}
	})
	for _, r := range a.Rank {
		if err := p.print(r); err != nil {
			return err
		}
	}
	if len(a.Rank) == 0 && format == "table" {
		_, err := fmt.Fprintln(c.OutOrStdout(), "no series matched")
		return err
	}
	return p.flush()
}

// rankValue shows a figure in its unit.
func rankValue(r insights.RankRow) string {
	switch {
	case strings.HasPrefix(r.Unit, "bytes"):
		return humanize.Bytes(r.Value) + strings.TrimPrefix(r.Unit, "bytes")
	case strings.HasPrefix(r.Unit, "seconds"):
		return humanize.Seconds(r.Value) + strings.TrimPrefix(r.Unit, "seconds")
	}
	return fmt.Sprintf("%.4g %s", r.Value, r.Unit)
}
