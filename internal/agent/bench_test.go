package agent

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

// BenchmarkAgentIdleRSS builds orb8, runs `orb8 agent` with the default
// probes, scrapes it once, lets it idle for 10 s, and reports its CPU time
// over those (% of one core) and its resident memory.
// It measures once per run; use -benchtime 1x.
func BenchmarkAgentIdleRSS(b *testing.B) {
	testutil.RequireRoot(b)
	bin := filepath.Join(b.TempDir(), "orb8")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/orb8").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	// A deployed binary's page cache is clean. A freshly written one's stays
	// dirty for up to 30 s, and the agent cannot page dirty pages out.
	f, err := os.Open(bin)
	if err != nil {
		b.Fatal(err)
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "agent", "--metrics-addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	addr := waitRunning(b, stderr)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	const idle = 10 * time.Second
	cpu0 := testutil.ProcessCPUTime(b, cmd.Process.Pid)
	time.Sleep(idle)
	b.ReportMetric(100*float64(testutil.ProcessCPUTime(b, cmd.Process.Pid)-cpu0)/float64(idle), "idle_cpu_%")
	b.ReportMetric(rssMB(b, cmd.Process.Pid), "idle_rss_MB")
}

var runningRE = regexp.MustCompile(`msg="agent running" metrics=(\S+)`)

func waitRunning(b *testing.B, stderr interface{ Read([]byte) (int, error) }) string {
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := runningRE.FindStringSubmatch(sc.Text()); m != nil {
			go func() {
				for sc.Scan() {
				}
			}()
			return m[1]
		}
	}
	b.Fatal("agent exited before it was running")
	return ""
}

func rssMB(b *testing.B, pid int) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
