package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/audit"
	"github.com/orb8/orb8/internal/testutil"
)

// profileOf is the profile of identity as `orb8 profiles show` prints it;
// nil while the agent has none.
func profileOf(t *testing.T, api, identity string) *pb.Profile {
	t.Helper()
	out, err := exec.Command(testutil.Binary(t), "profiles", "show", identity, "--agent", api, "-o", "json").Output()
	if err != nil {
		return nil
	}
	var p pb.Profile
	if err := protojson.Unmarshal(bytes.TrimSpace(out), &p); err != nil {
		t.Fatalf("orb8 profiles show: %v: %s", err, out)
	}
	return &p
}

// anomaliesOf is orb8_anomalies_total of the cgroup, by kind.
func anomaliesOf(t *testing.T, url, cgroupPath string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, m := range family(t, url, "orb8_anomalies_total").GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["cgroup"] == cgroupPath {
			out[labels["kind"]] = m.GetCounter().GetValue()
		}
	}
	return out
}

// auditedAnomalies are the anomaly records of the audit log for a cgroup,
// as "kind item".
func auditedAnomalies(t *testing.T, path, cgroupPath string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		if r.Anomaly != nil && r.Workload.Cgroup == cgroupPath {
			out = append(out, r.Anomaly.Kind+" "+r.Anomaly.Item)
		}
	}
	return out
}

// apiStreams is how many event streams the agent's API serves now.
func apiStreams(t *testing.T, api string) uint32 {
	t.Helper()
	c, err := apiclient.Dial(context.Background(), api, apiclient.TLS{}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Statuses(context.Background())
	if err != nil || len(st) != 1 {
		t.Fatalf("status: %v", err)
	}
	return st[0].GetApiStreams()
}

func equalCounts(got map[string]float64, want map[string]float64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestAnomalyProfilesStandalone is issue 20's acceptance: a workload that
// keeps execing the same program and connecting to the same port raises
// nothing once its profile is learned; a program it never ran and a port
// it never used raise exactly one new_binary and one new_peer (and the new
// parent-child pair one new_lineage), streamed, audited and counted; after
// an agent restart with the same state directory the profile is not
// learned again and known items raise nothing.
func TestAnomalyProfilesStandalone(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	usual, unusual := testutil.AcceptAll(t), testutil.AcceptAll(t)
	auditLog := filepath.Join(t.TempDir(), "audit.log")
	args := []string{"--probes", "cgroup,process,network", "--anomaly-detection", "--anomaly-learning", "20s",
		"--state-dir", t.TempDir(), "--audit-log", auditLog}
	agent := testutil.StartAgent(t, args...)
	r := policyRun{t}
	routine := func() {
		t.Helper()
		if err := cg.Run(t, "/usr/bin/true"); err != nil {
			t.Fatal(err)
		}
		if out := r.connect(cg, usual); out != "" {
			t.Fatalf("connect to %s: %s", usual, out)
		}
	}

	started := time.Now()
	for {
		routine()
		p := profileOf(t, agent.API, cg.Path)
		if p != nil && !p.GetLearning() {
			break
		}
		if time.Since(started) > 60*time.Second {
			t.Fatalf("profile of %s not frozen after 60s: %v\n%s", cg.Path, p, agent.Log())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if learned := time.Since(started); learned < 20*time.Second {
		t.Fatalf("profile frozen after %s, before its 20s window", learned)
	}
	for range 3 {
		routine()
	}
	time.Sleep(time.Second)
	if got := anomaliesOf(t, agent.URL, cg.Path); len(got) != 0 {
		t.Fatalf("the learned routine raised anomalies: %v", got)
	}

	trace := exec.Command(testutil.Binary(t), "trace", "anomaly", "--agent", agent.API, "--cgroup", cg.Path, "-o", "json", "--count", "3")
	var traced bytes.Buffer
	trace.Stdout = &traced
	if err := trace.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trace.Process.Kill() })
	testutil.Eventually(t, 20*time.Second, func() bool { return apiStreams(t, agent.API) == 1 }, "orb8 trace anomaly never subscribed")

	for range 2 {
		if err := cg.Run(t, "/usr/bin/id"); err != nil {
			t.Fatal(err)
		}
		if out := r.connect(cg, unusual); out != "" {
			t.Fatalf("connect to %s: %s", unusual, out)
		}
		routine()
	}
	want := map[string]float64{"new_binary": 1, "new_lineage": 1, "new_peer": 1}
	testutil.Eventually(t, 10*time.Second, func() bool { return len(anomaliesOf(t, agent.URL, cg.Path)) == len(want) },
		"anomalies of %s: %v; profile %v; sampling %v", cg.Path, anomaliesOf(t, agent.URL, cg.Path), profileOf(t, agent.API, cg.Path), family(t, agent.URL, "orb8_sampling_ratio"))
	time.Sleep(time.Second)
	if got := anomaliesOf(t, agent.URL, cg.Path); !equalCounts(got, want) {
		t.Fatalf("orb8_anomalies_total of %s = %v, want %v", cg.Path, got, want)
	}

	waited := make(chan error, 1)
	go func() { waited <- trace.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("orb8 trace anomaly: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("orb8 trace anomaly printed %q, want 3 events", traced.String())
	}
	var streamed []string
	for _, line := range strings.Split(strings.TrimSpace(traced.String()), "\n") {
		var e struct {
			Attributes struct {
				Anomaly struct{ Kind, Item string }
			}
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("trace line %q: %v", line, err)
		}
		streamed = append(streamed, e.Attributes.Anomaly.Kind+" "+e.Attributes.Anomaly.Item)
	}
	peer := unusual.String()
	for _, want := range []string{"new_binary /usr/bin/id", "new_peer " + peer} {
		if !strings.Contains(strings.Join(streamed, "\n"), want) {
			t.Errorf("streamed %q, want %q among them", streamed, want)
		}
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return len(auditedAnomalies(t, auditLog, cg.Path)) == 3 },
		"audit log anomalies of %s: %q, want 3", cg.Path, auditedAnomalies(t, auditLog, cg.Path))

	p := profileOf(t, agent.API, cg.Path)
	learnUntil := p.GetLearnUntil().AsTime()
	agent.Stop(t)

	agent = testutil.StartAgent(t, args...)
	p = profileOf(t, agent.API, cg.Path)
	if p == nil || p.GetLearning() || !p.GetLearnUntil().AsTime().Equal(learnUntil) {
		t.Fatalf("after the restart the profile is %v, want the frozen one (learned until %s)", p, learnUntil)
	}
	for range 2 {
		routine()
		if err := cg.Run(t, "/usr/bin/id"); err != nil {
			t.Fatal(err)
		}
		if out := r.connect(cg, unusual); out != "" {
			t.Fatalf("connect to %s: %s", unusual, out)
		}
	}
	// Something new still raises at once: the profile did not learn again.
	if err := cg.Run(t, "/usr/bin/uname"); err != nil {
		t.Fatal(err)
	}
	want = map[string]float64{"new_binary": 1, "new_lineage": 1}
	testutil.Eventually(t, 10*time.Second, func() bool { return len(anomaliesOf(t, agent.URL, cg.Path)) >= len(want) },
		"anomalies of %s after the restart: %v", cg.Path, anomaliesOf(t, agent.URL, cg.Path))
	time.Sleep(time.Second)
	if got := anomaliesOf(t, agent.URL, cg.Path); !equalCounts(got, want) {
		t.Fatalf("after the restart orb8_anomalies_total of %s = %v, want %v (uname only)", cg.Path, got, want)
	}
	if got := auditedAnomalies(t, auditLog, cg.Path); len(got) != 5 || got[3] != "new_binary /usr/bin/uname" && got[4] != "new_binary /usr/bin/uname" {
		t.Fatalf("audit log anomalies %q, want the 3 before the restart and uname's 2", got)
	}
}
