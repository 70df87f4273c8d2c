package compliance

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium finds Debian's Chromium; the suite (hack/test.sh) installs it
// and sets ORB8_REQUIRE_CHROMIUM=1, so there it never skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("ORB8_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("chromium is not installed (apt-get install chromium)")
	}
	t.Skip("chromium is not installed")
	return ""
}

// artifacts is where the test keeps what a person may look at afterwards:
// $ORB8_ARTIFACTS, else /tmp/orb8-artifacts.
func artifacts(t *testing.T) string {
	dir := os.Getenv("ORB8_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "orb8-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runChromium runs headless Chromium on the page with args and returns its
// standard output and its log (console messages included).
func runChromium(t *testing.T, bin, page string, args ...string) (stdout, log string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0", "--window-size=1280,2400"}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), "file://"+page)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errOut.String())
	}
	return out.String(), errOut.String()
}

// consoleProblem matches what Chromium logs for a page's console errors,
// failed loads and refused fetches (a self-contained page has none).
var consoleProblem = regexp.MustCompile(`(?i)CONSOLE\(\d+\)|Uncaught|Refused to|net::ERR_|Failed to load`)

// The HTML report renders in a real browser: the DOM has the summary, the
// charts and a verdict table with one row per control, including a
// hostile workload's names as text; the page logs no console error and
// fetches nothing; a screenshot is kept.
func TestHTMLReportRendersInChromium(t *testing.T) {
	bin := chromium(t)
	r, err := Build(hostile(), now)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, r, "html"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	dom, log := runChromium(t, bin, page, "--dump-dom")
	for _, want := range []string{`<table id="verdicts">`, `id="summary"`, `id="chart-verdicts"`, `id="chart-controls"`, `id="chart-timeline"`, `id="control-4.2.1"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered DOM lacks %s", want)
		}
	}
	if n := strings.Count(dom, `<tr data-control=`); n != len(r.Controls) {
		t.Errorf("the verdict table renders %d rows, want %d", n, len(r.Controls))
	}
	if !strings.Contains(dom, `<td class="verdict violation">violation</td>`) || !strings.Contains(dom, `<td class="verdict not-assessed">not assessed</td>`) {
		t.Error("the verdict table lacks a violation or a not assessed verdict")
	}
	if strings.Contains(dom, "<script>") || !strings.Contains(dom, "x|y&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the hostile pod name is not text in the DOM")
	}
	for _, line := range strings.Split(log, "\n") {
		if consoleProblem.MatchString(line) {
			t.Errorf("chromium logged: %s", line)
		}
	}

	shot := filepath.Join(artifacts(t), "compliance-report.png")
	_, _ = runChromium(t, bin, page, "--screenshot="+shot, "--hide-scrollbars")
	st, err := os.Stat(shot)
	if err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v (%d bytes)", shot, err, sizeOf(st))
	}
	t.Logf("screenshot of the report: %s", shot)
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return 0
	}
	return st.Size()
}
