package cli_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/compliance"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/testutil"
)

// orb8 report compliance against a real agent: a shell and a program run
// in a container's cgroup reach the report through the agent's audit
// trail as a 10.2 violation and its evidence; the period asked (24h) is
// longer than the agent holds, and the report says so.
func TestReportComplianceFromARealAgent(t *testing.T) {
	addr, _ := startAgentWith(t, func(c *config.Config) { c.AuditTrail = true })
	bin := buildOrb8(t)
	ctr := testutil.NewCgroup(t).Child(t, "docker-"+strings.Repeat("ab", 32)+".scope")
	ctr.Run(t, "/bin/sh", "-c", "true")
	ctr.Run(t, "/bin/true")
	truePath, err := filepath.EvalSymlinks("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	var r compliance.Report
	var ten compliance.Control
	testutil.Eventually(t, 5*time.Second, func() bool {
		stdout, err := exec.Command(bin, "report", "compliance", "--agent", addr, "--cgroup", ctr.Path, "-o", "json").Output()
		if err != nil {
			t.Fatalf("orb8 report compliance: %v", err)
		}
		if err := json.Unmarshal(stdout, &r); err != nil {
			t.Fatalf("report JSON: %v\n%s", err, stdout)
		}
		for _, c := range r.Controls {
			if c.ID == "10.2" {
				ten = c
			}
		}
		return ten.Violations == 1 && ten.EvidenceRows == 1
	}, "the shell and /bin/true in the report's 10.2 rows")
	if ten.Verdict != compliance.Violation || !strings.Contains(ten.Rows[0].Detail, "sh -c true") || ten.Rows[0].Cgroup != ctr.Path ||
		!strings.Contains(ten.Rows[1].Detail, truePath) {
		t.Errorf("10.2: %+v", ten)
	}
	if r.Period.Complete || !r.Period.HeldFrom.After(r.Period.From) || len(r.Notes) == 0 || !strings.Contains(r.Notes[0], "the agent started then") {
		t.Errorf("period %+v, notes %q: want it incomplete, held since the agent started", r.Period, r.Notes)
	}
	if len(r.Nodes) != 1 || r.Nodes[0] != "test-node" {
		t.Errorf("nodes %v", r.Nodes)
	}
	for _, c := range r.Controls {
		if c.ID == "11.5" && (c.Verdict != compliance.NotAssessed || !strings.Contains(c.Reason, "without --anomaly-detection")) {
			t.Errorf("11.5 without profiles: %s, %q", c.Verdict, c.Reason)
		}
	}
}

// Without --audit-trail the agent keeps no trail (execs are not streamed
// to it for nobody): the report assesses no trail-based control and says
// which flag is missing, rather than reporting an empty period as clean.
func TestReportComplianceWithoutAnAuditTrail(t *testing.T) {
	addr, _ := startAgent(t)
	bin := buildOrb8(t)
	stdout, err := exec.Command(bin, "report", "compliance", "--agent", addr, "-o", "json").Output()
	if err != nil {
		t.Fatalf("orb8 report compliance: %v", err)
	}
	var r compliance.Report
	if err := json.Unmarshal(stdout, &r); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, stdout)
	}
	if r.Period.Complete {
		t.Errorf("period %+v: complete without a trail", r.Period)
	}
	for _, c := range r.Controls {
		if c.ID == "10.2" && (c.Verdict != compliance.NotAssessed || !strings.Contains(c.Reason, "without --audit-trail")) {
			t.Errorf("10.2 without a trail: %s, %q", c.Verdict, c.Reason)
		}
	}
}
