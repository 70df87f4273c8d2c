package cli_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/testutil"
)

// orb8 profiles lists, shows and resets the profiles of a real agent: a
// test cgroup learns /usr/bin/true for a second, then /usr/bin/id is its
// anomaly.
func TestProfilesCommands(t *testing.T) {
	stateDir := t.TempDir()
	addr, _ := startAgentWith(t, func(cfg *config.Config) {
		cfg.AnomalyDetection, cfg.AnomalyLearning, cfg.StateDir = true, time.Second, stateDir
	})
	bin := buildOrb8(t)
	orb8 := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append(args, "--agent", addr)...).CombinedOutput()
		return string(out), err
	}
	cg := testutil.NewCgroup(t)
	cg.Run(t, "/usr/bin/true")
	time.Sleep(1500 * time.Millisecond)
	cg.Run(t, "/usr/bin/id")

	var list string
	testutil.Eventually(t, 5*time.Second, func() bool {
		list, _ = orb8("profiles")
		for _, line := range strings.Split(list, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[1] == cg.Path {
				// NODE PROFILE STATE LEARN-UNTIL(2 fields) BINARIES LINEAGE PEERS DOMAINS PORTS ANOMALIES
				return len(f) == 11 && f[2] == "frozen" && f[5] == "1" && f[10] == "2"
			}
		}
		return false
	}, "orb8 profiles:\n%s\nwant %s frozen with 1 binary and 2 anomalies (binary, lineage)", list, cg.Path)

	show, err := orb8("profiles", "show", cg.Path)
	rows := map[string]string{} // item -> status
	for _, line := range strings.Split(show, "\n") {
		if f := strings.Fields(line); len(f) >= 5 && f[2] == "new_binary" {
			rows[f[3]] = f[4]
		}
	}
	if err != nil || rows["/usr/bin/true"] != "learned" || rows["/usr/bin/id"] != "anomaly" || len(rows) != 2 {
		t.Fatalf("orb8 profiles show: %v\n%s", err, show)
	}
	if out, err := orb8("profiles", "reset", cg.Path); err != nil || !strings.Contains(out, "reset") {
		t.Fatalf("orb8 profiles reset: %v\n%s", err, out)
	}
	if out, err := orb8("profiles", "show", cg.Path); err == nil || !strings.Contains(out, "no profile") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("show after reset: %v\n%s", err, out)
	}
	if out, err := orb8("profiles", "show"); err == nil || !strings.Contains(out, "accepts 1 arg") {
		t.Fatalf("show without an identity: %v\n%s", err, out)
	}
}
