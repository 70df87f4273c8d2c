package contract

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const rulesTestFile = "../../deploy/prometheus/orb8-rules.test.yaml"

// requirePromtool skips without promtool only when not root: CI runs as
// root, and hack/test.sh installs Debian's prometheus package, promtool included.
func requirePromtool(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(promtool); err == nil {
		return
	}
	msg := promtool + " missing: apt-get install -y --no-install-recommends prometheus"
	if os.Geteuid() != 0 {
		t.Skip(msg)
	}
	t.Fatal(msg)
}

// TestAlertRulesPassPromtool runs Prometheus's own rule checker and unit
// tests (deploy/prometheus/orb8-rules.test.yaml) on the rules file.
func TestAlertRulesPassPromtool(t *testing.T) {
	requirePromtool(t)
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", rulesTestFile}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestEveryAlertIsTestedFiring: each alert the issue asks for exists, and
// the promtool tests expect every alert of the file to fire at least once.
func TestEveryAlertIsTestedFiring(t *testing.T) {
	data, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	var fired []string
	for _, tc := range file.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fired = append(fired, a.Alertname)
			}
		}
	}
	rules := ruleExprs(t)
	for _, want := range []string{"Orb8OOMSoon", "Orb8DNSServfailRate", "Orb8TCPRetransmitRatioHigh", "Orb8GPUThrottled",
		"Orb8CUDAMemoryLeakSuspected", "Orb8EventsLost", "Orb8ProbeDown"} {
		if _, ok := rules[want]; !ok {
			t.Errorf("alert %s missing from %s", want, rulesFile)
		}
	}
	for name := range rules {
		if !slices.Contains(fired, name) {
			t.Errorf("alert %s is never expected to fire in %s", name, rulesTestFile)
		}
	}
}
