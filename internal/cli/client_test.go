package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/probe"
	httpprobe "github.com/orb8/orb8/internal/probes/http"
	"github.com/orb8/orb8/internal/probes/process"
	"github.com/orb8/orb8/internal/testutil"
)

// buildOrb8 is the real binary, built once per test run.
func buildOrb8(t *testing.T) string { return testutil.Binary(t) }

// startAgent runs an agent with the process probe in this test process and
// serves its API on a free loopback port.
func startAgent(t *testing.T) (addr string, a *agent.Agent) {
	t.Helper()
	return startAgentWith(t, func(*config.Config) {})
}

// startAgentWith is startAgent with the configuration set by set.
func startAgentWith(t *testing.T, set func(*config.Config)) (addr string, a *agent.Agent) {
	t.Helper()
	return startAgentWithProbes(t, set, process.New())
}

// startAgentWithProbes is startAgentWith running the given probes, each
// of which must come up.
func startAgentWithProbes(t *testing.T, set func(*config.Config), probes ...probe.Probe) (addr string, a *agent.Agent) {
	t.Helper()
	testutil.RequireRoot(t)
	res := testutil.Resolver(t)
	cfg := config.Default()
	cfg.NodeName = "test-node"
	set(&cfg)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a = agent.NewWithProbes(cfg, log, res, probes)
	a.Start(context.Background())
	x, err := a.ListenAPI(testutil.Socket(t))
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	go x.Serve()
	t.Cleanup(func() {
		x.Close()
		a.Close()
	})
	st := a.Status()
	if len(st) != len(probes) {
		t.Fatalf("%d probes, want %d: %+v", len(st), len(probes), st)
	}
	for _, st := range st {
		if !st.Up {
			t.Fatalf("probe %s not up: %+v", st.Name, st)
		}
	}
	return x.Addrs()[0], a
}

// openStreams asks the agent how many event streams are open.
func openStreams(t *testing.T, addr string) uint32 {
	t.Helper()
	c, err := apiclient.Dial(context.Background(), addr, apiclient.TLS{}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Statuses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st[0].GetApiStreams()
}

func TestTraceExecJSONShowsExactlyTheCgroupsExecs(t *testing.T) {
	addr, _ := startAgent(t)
	bin := buildOrb8(t)
	cg := testutil.NewCgroup(t)

	trace := exec.Command(bin, "trace", "exec", "-o", "json", "--agent", addr, "--cgroup", cg.Path)
	stdout, err := trace.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	trace.Stderr = &stderr
	if err := trace.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trace.Process.Kill(); trace.Wait() })
	testutil.Eventually(t, 5*time.Second, func() bool { return openStreams(t, addr) == 1 },
		"orb8 trace did not open its stream; stderr: %s", &stderr)

	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	const n = 7
	for i := range n {
		cg.Run(t, "/bin/true", "run", strconv.Itoa(i))
	}
	ranAt := time.Now()
	truePath, err := filepath.EvalSymlinks("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	deadline := time.After(time.Second)
	for len(got) < n {
		select {
		case line := <-lines:
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("line %d is not one JSON object: %v: %q", len(got)+1, err, line)
			}
			got = append(got, ev)
		case <-deadline:
			t.Fatalf("within 1s of the last exec got %d of %d exec events; stderr: %s", len(got), n, &stderr)
		}
	}
	t.Logf("%d exec events within %v of the last exec", n, time.Since(ranAt))
	select { // nothing more may come: exactly n
	case line := <-lines:
		t.Fatalf("event beyond the %d execs: %s", n, line)
	case <-time.After(300 * time.Millisecond):
	}
	for i, ev := range got {
		w, _ := ev["workload"].(map[string]any)
		p, _ := ev["process"].(map[string]any)
		x, _ := ev["exec"].(map[string]any)
		if ev["kind"] != "exec" || w["cgroup"] != cg.Path || x["filename"] != "/bin/true" || p["comm"] != "true" {
			t.Errorf("unexpected event %v", ev)
		}
		if args := fmt.Sprint(x["args"]); x["path"] != truePath || args != fmt.Sprintf("[/bin/true run %d]", i) {
			t.Errorf("exec event %d: path %v, args %s; want %s, [/bin/true run %d]", i, x["path"], args, truePath, i)
		}
		for _, k := range []string{"namespace", "pod", "container"} {
			if _, ok := w[k]; !ok {
				t.Errorf("event lacks workload.%s: %v", k, ev)
			}
		}
		if pid, _ := p["pid"].(float64); pid <= 0 {
			t.Errorf("event has no pid: %v", ev)
		}
		if ts, _ := ev["time"].(string); !within(ts, ranAt, 5*time.Second) {
			t.Errorf("event time %q is not around %v", ts, ranAt)
		}
	}
	trace.Process.Signal(syscall.SIGINT)
	if err := trace.Wait(); err != nil {
		t.Errorf("orb8 trace after SIGINT: %v; stderr: %s", err, &stderr)
	}
}

func within(ts string, ref time.Time, d time.Duration) bool {
	at, err := time.Parse(time.RFC3339Nano, ts)
	return err == nil && at.Sub(ref).Abs() < d
}

func TestStatusJSONIsValid(t *testing.T) {
	addr, _ := startAgent(t)
	out, err := exec.Command(buildOrb8(t), "status", "-o", "json", "--agent", addr).Output()
	if err != nil {
		t.Fatalf("orb8 status: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one JSON line, got %d: %s", len(lines), out)
	}
	var st struct {
		Node   string `json:"node"`
		Probes []struct {
			Name string `json:"name"`
			Up   bool   `json:"up"`
		} `json:"probes"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("not JSON: %v: %s", err, out)
	}
	if st.Node != "test-node" || len(st.Probes) != 1 || st.Probes[0].Name != "process" || !st.Probes[0].Up {
		t.Errorf("status = %s", out)
	}
}

func TestUnreachableAgentFailsFastWithOneLine(t *testing.T) {
	bin := buildOrb8(t)
	for _, args := range [][]string{
		{"flows", "--agent", "127.0.0.1:1"},
		{"trace", "exec", "--agent", "127.0.0.1:1"},
		{"status", "--agent", "127.0.0.1:1"},
	} {
		start := time.Now()
		cmd := exec.Command(bin, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		took := time.Since(start)
		exitErr, ok := err.(*exec.ExitError)
		if !ok || exitErr.ExitCode() == 0 {
			t.Errorf("orb8 %v: want a non-zero exit, got %v", args, err)
		}
		msg := stderr.String()
		if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "orb8: ") || !strings.Contains(msg, "127.0.0.1:1") {
			t.Errorf("orb8 %v: want one line naming the agent, got %q", args, msg)
		}
		if took > 2*time.Second {
			t.Errorf("orb8 %v took %v to fail", args, took)
		}
	}
}

func TestBadInputIsOneLine(t *testing.T) {
	bin := buildOrb8(t)
	for args, want := range map[string]string{
		"trace nope":               `unknown event kind "nope"`,
		"flows -o xml":             `invalid --output "xml"`,
		"flows -l a=(":             `invalid --selector "a=("`,
		"flows --agent nohost":     `invalid --agent "nohost"`,
		"flows --protocol sctp":    `invalid --protocol "sctp"`,
		"status --cgroup relative": `invalid --cgroup "relative"`,
		"workloads --no-such-flag": `unknown flag: --no-such-flag`,
		"top -l a=(":               `invalid --selector "a=("`,
		"top --cgroup relative":    `invalid --cgroup "relative"`,
	} {
		cmd := exec.Command(bin, strings.Fields(args)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil {
			t.Errorf("orb8 %s succeeded", args)
		}
		if msg := stderr.String(); strings.Count(msg, "\n") != 1 || !strings.Contains(msg, want) {
			t.Errorf("orb8 %s: stderr %q, want one line with %q", args, msg, want)
		}
	}
}

// A program named with terminal control sequences is traced with its name
// escaped in the table, and exact in JSON.
func TestTraceEscapesControlCharacters(t *testing.T) {
	addr, _ := startAgent(t)
	bin := buildOrb8(t)
	cg := testutil.NewCgroup(t)
	const evil = "\x1b[2J\x1b]0;owned\x07true"
	prog := filepath.Join(t.TempDir(), evil)
	data, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prog, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"table", "json"} {
		t.Run(format, func(t *testing.T) {
			trace := exec.Command(bin, "trace", "exec", "-o", format, "--count", "1", "--agent", addr, "--cgroup", cg.Path)
			var stdout, stderr strings.Builder
			trace.Stdout, trace.Stderr = &stdout, &stderr
			if err := trace.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { trace.Process.Kill(); trace.Wait() })
			testutil.Eventually(t, 5*time.Second, func() bool { return openStreams(t, addr) == 1 }, "orb8 trace did not open its stream; stderr: %s", &stderr)
			cg.Run(t, prog)
			if err := trace.Wait(); err != nil {
				t.Fatalf("orb8 trace: %v; stderr: %s", err, &stderr)
			}
			out := stdout.String()
			switch format {
			case "table":
				// The comm is escaped, the path quoted as a word of the command line.
				if strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, ` \x1b[2J\x1b]0;owned\x07t `) || !strings.Contains(out, `/\x1b[2J\x1b]0;owned\atrue"`) {
					t.Errorf("table row %q: want the control characters escaped", out)
				}
			case "json":
				var ev struct {
					Exec struct{ Filename string } `json:"exec"`
				}
				if err := json.Unmarshal([]byte(out), &ev); err != nil || ev.Exec.Filename != prog {
					t.Errorf("JSON %q (%v): want the exact file name %q", out, err, prog)
				}
			}
		})
	}
}

// orb8 requests --failing lists exactly the requests a server answered
// 503, as a table and as JSON; without --failing the slowest, all 8 here.
func TestRequestsListsFailingAndSlowest(t *testing.T) {
	addr, _ := startAgentWithProbes(t, func(*config.Config) {}, httpprobe.New())
	server, client := testutil.NewCgroup(t), testutil.NewCgroup(t)
	base := testutil.StatusServer(t, server)
	if err := client.Run(t, "/usr/bin/curl", testutil.StatusRequests(base, 8)...); err != nil {
		t.Fatalf("curl: %v", err)
	}
	requests := func(args ...string) []string {
		out, err := exec.Command(buildOrb8(t), append([]string{"requests", "--agent", addr, "--cgroup", server.Path}, args...)...).Output()
		if err != nil {
			t.Fatalf("orb8 requests %v: %v", args, err)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	testutil.Eventually(t, 3*time.Second, func() bool { return len(requests("--failing", "-o", "json")) == 3 },
		"orb8 requests --failing: %q, want 3 lines", requests("--failing", "-o", "json"))
	for _, line := range requests("--failing", "-o", "json") {
		var r struct {
			Method, Path, Direction string
			StatusCode              int `json:"statusCode"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Method != "GET" || r.Path != "/down" || r.StatusCode != 503 || r.Direction != "server" {
			t.Errorf("JSON %s (%v): want GET /down answered 503 to the server", line, err)
		}
	}
	table := requests("--failing")
	if len(table) != 4 || !strings.HasPrefix(table[0], "TIME ") || !strings.Contains(table[1], " /down ") || !strings.Contains(table[1], " 503 ") {
		t.Errorf("table %q: want a header and 3 rows of /down answered 503", table)
	}
	if slowest := requests("-o", "json"); len(slowest) != 8 {
		t.Errorf("slowest: %d, want 8: %q", len(slowest), slowest)
	}
}
