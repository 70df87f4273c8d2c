package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/orb8/orb8/internal/humanize"
	"github.com/orb8/orb8/internal/insights"
	"github.com/orb8/orb8/internal/insights/ask"
)

func printRecommendations(c *cobra.Command, format string, recs []insights.Recommendation) error {
	out := c.OutOrStdout()
	switch format {
	case "patch":
		return printPatches(out, recs)
	case "vpa":
		return printVPAs(out, recs)
	}
	p := newValuePrinter(out, format,
		[]string{"NAMESPACE", "WORKLOAD", "CONTAINER", "PODS", "CPU REQUEST", "MEMORY REQUEST", "CPU P90/MAX", "MEMORY PEAK", "RISKS"},
		func(r insights.Recommendation) []string {
			return []string{
				humanize.Dash(r.Namespace), r.Name(), humanize.Dash(r.Container), fmt.Sprint(r.Pods),
				change(r.Current.CPURequestCores, r.CPURequestCores, insights.CPUQuantity),
				change(r.Current.MemoryRequestBytes, r.MemoryRequestBytes, insights.MemoryQuantity),
				insights.CPUQuantity(r.Evidence.CPUTargetCores) + "/" + insights.CPUQuantity(r.Evidence.CPUMaxCores),
				insights.MemoryQuantity(r.Evidence.MemoryPeakBytes), fmt.Sprint(len(r.Risks)),
			}
		})
	for _, r := range recs {
		if err := p.print(r); err != nil {
			return err
		}
	}
	return p.flush()
}

// change is "now -> recommended", or the recommendation alone.
func change(now *float64, rec float64, format func(float64) string) string {
	if now == nil {
		return "- -> " + format(rec)
	}
	return format(*now) + " -> " + format(rec)
}

// podTemplatePath is where an owner kind keeps its pod template's spec.
var podTemplatePath = map[string][]string{
	"Deployment": {"spec", "template", "spec"}, "StatefulSet": {"spec", "template", "spec"},
	"DaemonSet": {"spec", "template", "spec"}, "ReplicaSet": {"spec", "template", "spec"},
	"CronJob": {"spec", "jobTemplate", "spec", "template", "spec"},
}

// apiVersions of the owner kinds a VPA can target.
var apiVersions = map[string]string{
	"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "ReplicaSet": "apps/v1",
	"CronJob": "batch/v1", "Job": "batch/v1",
}

// byOwner groups recommendations of one owner (its containers), in order.
func byOwner(recs []insights.Recommendation) [][]insights.Recommendation {
	var out [][]insights.Recommendation
	index := map[string]int{}
	for _, r := range recs {
		k := r.Namespace + "/" + r.OwnerKind + "/" + r.OwnerName
		if r.OwnerName == "" {
			k = "cgroup:" + r.Cgroup
		}
		if i, ok := index[k]; ok {
			out[i] = append(out[i], r)
			continue
		}
		index[k] = len(out)
		out = append(out, []insights.Recommendation{r})
	}
	return out
}

func resourcesOf(r insights.Recommendation) map[string]any {
	res := map[string]any{"requests": map[string]string{"cpu": insights.CPUQuantity(r.CPURequestCores), "memory": insights.MemoryQuantity(r.MemoryRequestBytes)}}
	limits := map[string]string{}
	if r.CPULimitCores != nil {
		limits["cpu"] = insights.CPUQuantity(*r.CPULimitCores)
	}
	if r.MemoryLimitBytes != nil {
		limits["memory"] = insights.MemoryQuantity(*r.MemoryLimitBytes)
	}
	if len(limits) > 0 {
		res["limits"] = limits
	}
	return res
}

// printPatches prints one kubectl patch per owner: a strategic merge of
// the containers' resources into its pod template (a bare pod: the resize
// subresource, Kubernetes 1.33 and later). Workloads outside Kubernetes
// get a comment.
func printPatches(w io.Writer, recs []insights.Recommendation) error {
	for _, group := range byOwner(recs) {
		r := group[0]
		var containers []map[string]any
		for _, c := range group {
			containers = append(containers, map[string]any{"name": c.Container, "resources": resourcesOf(c)})
		}
		var body any = map[string]any{"containers": containers}
		var target, extra string
		switch path, ok := podTemplatePath[r.OwnerKind]; {
		case ok:
			for i := len(path) - 1; i >= 0; i-- {
				body = map[string]any{path[i]: body}
			}
			target = strings.ToLower(r.OwnerKind) + " " + shellQuote(r.OwnerName)
		case r.OwnerKind == "Pod":
			body = map[string]any{"spec": body}
			target, extra = "pod "+shellQuote(r.OwnerName), " --subresource resize"
		default:
			if _, err := fmt.Fprintf(w, "# %s: cpu %s, memory %s (no Kubernetes owner to patch)\n",
				humanize.Safe(r.Name()), insights.CPUQuantity(r.CPURequestCores), insights.MemoryQuantity(r.MemoryRequestBytes)); err != nil {
				return err
			}
			continue
		}
		patch, err := json.Marshal(body)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "kubectl -n %s patch %s%s --type strategic -p %s\n",
			shellQuote(r.Namespace), target, extra, shellQuote(string(patch))); err != nil {
			return err
		}
	}
	return nil
}

// shellQuote quotes s for a POSIX shell unless humanize.PlainWord.
func shellQuote(s string) string {
	if humanize.PlainWord(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// printVPAs prints a VerticalPodAutoscaler per owner a VPA can target, in
// recommendation mode (updateMode Off), with orb8's recommendation as each
// container's floor: the history the VPA has not seen yet.
func printVPAs(w io.Writer, recs []insights.Recommendation) error {
	docs := 0
	for _, group := range byOwner(recs) {
		r := group[0]
		api, ok := apiVersions[r.OwnerKind]
		if !ok {
			if _, err := fmt.Fprintf(w, "# %s: a VerticalPodAutoscaler needs a controller to target\n", humanize.Safe(r.Name())); err != nil {
				return err
			}
			continue
		}
		var policies []map[string]any
		for _, c := range group {
			policies = append(policies, map[string]any{
				"containerName":       c.Container,
				"controlledResources": []string{"cpu", "memory"},
				"minAllowed":          map[string]string{"cpu": insights.CPUQuantity(c.CPURequestCores), "memory": insights.MemoryQuantity(c.MemoryRequestBytes)},
			})
		}
		vpa := map[string]any{
			"apiVersion": "autoscaling.k8s.io/v1",
			"kind":       "VerticalPodAutoscaler",
			"metadata":   map[string]any{"name": r.OwnerName, "namespace": r.Namespace},
			"spec": map[string]any{
				"targetRef":      map[string]string{"apiVersion": api, "kind": r.OwnerKind, "name": r.OwnerName},
				"updatePolicy":   map[string]string{"updateMode": "Off"},
				"resourcePolicy": map[string]any{"containerPolicies": policies},
			},
		}
		data, err := yaml.Marshal(vpa)
		if err != nil {
			return err
		}
		if docs > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		docs++
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}

func money(v float64) string { return fmt.Sprintf("$%.4g", v) }

func printCost(c *cobra.Command, format string, by insights.CostBy, rows []insights.CostRow) error {
	return printCostPer(c, format, by, rows, "month")
}

// printCostPer prints cost rows with their cost projected to a period
// (hour, day, week, month, year) at their rate.
func printCostPer(c *cobra.Command, format string, by insights.CostBy, rows []insights.CostRow, period string) error {
	if period == "" {
		period = "month"
	}
	perCol := "PER " + strings.ToUpper(period)
	per := func(r insights.CostRow) string { return money(ask.PerPeriod(r, period)) }
	header := []string{"NAMESPACE", "WORKLOAD", "PODS", "CPU CORE-H", "MEMORY GIB-H", "GPU-H", "GPU IDLE", "COST", perCol}
	row := func(r insights.CostRow) []string {
		return []string{humanize.Dash(r.Namespace), r.Name(), fmt.Sprint(r.Pods), fmt.Sprintf("%.3f", r.CPUCoreHours),
			fmt.Sprintf("%.3f", r.MemoryGiBHours), fmt.Sprintf("%.3f", r.GPUHours), humanize.Optional(r.GPUIdleCost, money), money(r.Cost), per(r)}
	}
	switch by {
	case insights.ByNamespace:
		header = []string{"NAMESPACE", "CPU CORE-H", "MEMORY GIB-H", "GPU-H", "COST", perCol}
		row = func(r insights.CostRow) []string {
			return []string{humanize.Dash(r.Namespace), fmt.Sprintf("%.3f", r.CPUCoreHours), fmt.Sprintf("%.3f", r.MemoryGiBHours),
				fmt.Sprintf("%.3f", r.GPUHours), money(r.Cost), per(r)}
		}
	case insights.ByNode:
		header = []string{"NODE", "TYPE", "COST", "ALLOCATED", "IDLE", perCol}
		row = func(r insights.CostRow) []string {
			return []string{humanize.Dash(r.Node), humanize.Dash(r.NodeType), money(r.Cost), humanize.Optional(r.AllocatedCost, money),
				humanize.Optional(r.IdleCost, money), per(r)}
		}
	}
	p := newValuePrinter(c.OutOrStdout(), format, header, row)
	for _, r := range rows {
		if err := p.print(r); err != nil {
			return err
		}
	}
	return p.flush()
}

func printForecasts(c *cobra.Command, format string, fcs []insights.Forecast) error {
	p := newValuePrinter(c.OutOrStdout(), format,
		[]string{"NAMESPACE", "WORKLOAD", "METRIC", "SEASON", "NOW", "PEAK", "PEAK AT", "HELD-OUT ERROR", "REPLICAS", "ADVICE"},
		func(f insights.Forecast) []string {
			replicas := "-"
			if f.ReplicasNeeded != nil {
				replicas = fmt.Sprintf("%d -> %d", f.Replicas, *f.ReplicasNeeded)
			}
			return []string{humanize.Dash(f.Namespace), f.Name(), f.Metric, f.Season, fmt.Sprintf("%.3g", f.Current),
				fmt.Sprintf("%.3g", f.Peak), f.PeakAt.Local().Format("Mon 15:04"), humanize.Percent(f.HoldoutError), replicas, humanize.Dash(f.Advice)}
		})
	for _, f := range fcs {
		if err := p.print(f); err != nil {
			return err
		}
	}
	return p.flush()
}

func printRegressions(c *cobra.Command, format string, cmps []insights.Comparison, rollouts []insights.Rollout, all bool) error {
	out := c.OutOrStdout()
	p := newValuePrinter(out, format,
		[]string{"ROLLOUT", "NAMESPACE", "WORKLOAD", "FROM", "TO", "METRIC", "BEFORE", "AFTER", "CHANGE", "P", "VERDICT"},
		func(r insights.Comparison) []string {
			rel := "-"
			if r.ChangeRelative != nil {
				rel = fmt.Sprintf("%+.1f%%", *r.ChangeRelative*100)
			}
			return []string{r.RolloutAt.Local().Format(time.DateTime), humanize.Dash(r.Namespace), r.Name(), r.From, r.To, r.Metric,
				fmt.Sprintf("%.4g", r.Before), fmt.Sprintf("%.4g", r.After), rel, fmt.Sprintf("%.2g", r.PValue), r.Verdict}
		})
	shown := 0
	for _, r := range cmps {
		if !all && r.Verdict != insights.VerdictRegression {
			continue
		}
		shown++
		if err := p.print(r); err != nil {
			return err
		}
	}
	if err := p.flush(); err != nil {
		return err
	}
	if format == "table" && shown == 0 {
		_, err := fmt.Fprintf(out, "no regression in %d rollouts (%d comparisons; --all lists them)\n", len(rollouts), len(cmps))
		return err
	}
	return nil
}
