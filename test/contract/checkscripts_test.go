package contract

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The real-hardware checks (hack/*-check.sh) run only on machines with the
// accelerator: here they are parsed (bash -n, shellcheck where installed,
// their embedded Python compiled where python3 is), and the metric names
// their device sections assert are ones the agent exports.
func TestHardwareCheckScripts(t *testing.T) {
	scripts, err := filepath.Glob("../../hack/*-check.sh")
	if err != nil || len(scripts) < 4 {
		t.Fatalf("check scripts: %v, %v", scripts, err)
	}
	shellcheck, _ := exec.LookPath("shellcheck")
	python, _ := exec.LookPath("python3")
	if shellcheck == "" && os.Getenv("ORB8_REQUIRE_SHELLCHECK") == "1" {
		t.Fatal("shellcheck is not installed (apt-get install shellcheck)")
	}
	if shellcheck == "" || python == "" {
		t.Logf("shellcheck %q, python3 %q: the checks of a missing one are skipped", shellcheck, python)
	}
	exported := describedMetrics(t)
	for _, s := range scripts {
		name := filepath.Base(s)
		t.Run(name, func(t *testing.T) {
			if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
				t.Fatalf("bash -n: %v\n%s", err, out)
			}
			if shellcheck != "" {
				cmd := exec.Command(shellcheck, "-x", "-S", "warning", filepath.Join("hack", name))
				cmd.Dir = "../.."
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("shellcheck: %v\n%s", err, out)
				}
			}
			b, err := os.ReadFile(s)
			if err != nil {
				t.Fatal(err)
			}
			text := string(b)
			for i, py := range pythonHeredocs(text) {
				if python == "" {
					break
				}
				cmd := exec.Command(python, "-c", "import ast, sys; ast.parse(sys.stdin.read())")
				cmd.Stdin = strings.NewReader(py)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("embedded Python %d does not parse: %v\n%s", i, err, out)
				}
			}
			// The runtime sections assert the accelerator runtime families,
			// which another probe exports; the rest must name exported ones.
			device := text
			if loc := runtimeSectionRE.FindStringIndex(text); loc != nil {
				device = text[:loc[0]]
			}
			for _, m := range metricNameRE.FindAllString(device, -1) {
				if _, ok := exported[m]; !ok {
					t.Errorf("%s asserts %s, which the agent does not export", name, m)
				}
			}
		})
	}
}

var (
	metricNameRE     = regexp.MustCompile(`\borb8_[a-z0-9_]+[a-z0-9]\b`)
	runtimeSectionRE = regexp.MustCompile(`(?m)^# --- .*runtime uprobes`)
	heredocRE        = regexp.MustCompile(`(?s)<<'PY'[^\n]*\n(.*?)\nPY\n`)
)

// pythonHeredocs are the bodies of a script's <<'PY' documents.
func pythonHeredocs(script string) []string {
	var out []string
	for _, m := range heredocRE.FindAllStringSubmatch(script, -1) {
		out = append(out, m[1])
	}
	return out
}
