package contract

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/orb8/orb8/internal/testutil"
)

const (
	dashboardsDir = "../../deploy/dashboards"
	rulesFile     = "../../deploy/prometheus/orb8-rules.yaml"
	promtool      = "/usr/bin/promtool"
)

// ruleExprs returns the expression of every alerting and recording rule.
func ruleExprs(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert  string `yaml:"alert"`
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	out := map[string]string{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			out[r.Alert+r.Record] = r.Expr
		}
	}
	return out
}

// known says whether name is exported by the agent or listed in
// docs/metrics.md; a histogram's _bucket/_sum/_count series count as its own.
func known(t *testing.T) func(name string) bool {
	described := describedMetrics(t)
	doc := documented(t)
	return func(name string) bool {
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			base, ok := strings.CutSuffix(name, suffix)
			if ok && (described[base] != nil || doc[base]) {
				return true
			}
		}
		return false
	}
}

func TestDashboardsQueryOnlyExportedMetrics(t *testing.T) {
	isKnown := known(t)
	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s: %v", dashboardsDir, err)
	}
	for _, f := range files {
		exprs, variables := testutil.DashboardQueries(t, f)
		if len(exprs) == 0 || len(variables) == 0 {
			t.Errorf("%s: %d queries, %d variable queries", f, len(exprs), len(variables))
		}
		var names []string
		for _, e := range exprs {
			names = append(names, metricNames(e)...)
		}
		for _, v := range variables {
			names = append(names, variableQueryNames(v)...)
		}
		for _, n := range names {
			if !isKnown(n) {
				t.Errorf("%s queries %s, which the agent does not export and docs/metrics.md does not list", filepath.Base(f), n)
			}
		}
	}
}

func TestAlertRulesQueryOnlyExportedMetrics(t *testing.T) {
	isKnown := known(t)
	rules := ruleExprs(t)
	if len(rules) < 7 {
		t.Fatalf("%d rules in %s, want at least the 7 alerts", len(rules), rulesFile)
	}
	for rule, expr := range rules {
		for _, n := range metricNames(expr) {
			if !isKnown(n) {
				t.Errorf("rule %s queries %s, which the agent does not export and docs/metrics.md does not list", rule, n)
			}
		}
	}
}

// TestDashboardQueriesParse hands every dashboard expression, with Grafana's
// variables replaced by values, to promtool: Prometheus's own parser.
func TestDashboardQueriesParse(t *testing.T) {
	requirePromtool(t)
	grafanaVars := strings.NewReplacer("$__rate_interval", "5m", "${__range}", "1h", "$__range", "1h",
		"$instance", ".*", "$cluster", ".*", "$namespace", ".*", "$pod", ".*", "$container", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboards\n    rules:\n")
	files, _ := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	n := 0
	for _, f := range files {
		exprs, _ := testutil.DashboardQueries(t, f)
		for _, e := range exprs {
			n++
			quoted, _ := json.Marshal(grafanaVars.Replace(e))
			fmt.Fprintf(&rules, "      - record: q%d\n        expr: %s\n", n, quoted)
		}
	}
	path := filepath.Join(t.TempDir(), "dashboards.rules.yaml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("%d rules found", n)) {
		t.Fatalf("promtool check rules on the %d dashboard queries: %v\n%s", n, err, out)
	}
	if n < 40 {
		t.Errorf("only %d dashboard queries", n)
	}
}
