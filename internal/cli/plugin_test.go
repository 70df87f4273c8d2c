package cli_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/orb8/orb8/internal/agent"
)

// fakeAPIServer answers what the CLI asks a cluster before it reaches an
// agent: the agents' pods (none here: port forwarding needs a real cluster,
// test/e2e runs the plugin there), and namespaces and pods for completion.
// It records the paths asked for.
type fakeAPIServer struct {
	mu    sync.Mutex
	paths []string
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.paths = append(f.paths, r.URL.Path)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/api/v1/namespaces":
		fmt.Fprint(w, `{"kind":"NamespaceList","apiVersion":"v1","items":[{"metadata":{"name":"team-a"}},{"metadata":{"name":"default"}}]}`)
	case "/api/v1/namespaces/team-a/pods":
		fmt.Fprint(w, `{"kind":"PodList","apiVersion":"v1","items":[{"metadata":{"name":"web-1","namespace":"team-a"}}]}`)
	case "/api/v1/namespaces/orb8/pods", "/api/v1/namespaces/monitoring/pods":
		fmt.Fprint(w, `{"kind":"PodList","apiVersion":"v1","items":[]}`)
	default:
		http.NotFound(w, r)
	}
}

// asked returns the paths asked for since the last call.
func (f *fakeAPIServer) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.paths
	f.paths = nil
	return p
}

// pluginSetup links the built binary as orb8, kubectl-orb8 and
// kubectl_complete-orb8, and writes a kubeconfig whose current context
// "one" names namespace team-a, and whose context "two" names none.
func pluginSetup(t *testing.T) (dir string, api *fakeAPIServer) {
	t.Helper()
	bin := buildOrb8(t)
	dir = t.TempDir()
	for _, name := range []string{"orb8", "kubectl-orb8", "kubectl_complete-orb8"} {
		if err := os.Symlink(bin, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	api = &fakeAPIServer{}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- {name: c, cluster: {server: %q}}
users:
- {name: u, user: {token: t}}
contexts:
- {name: one, context: {cluster: c, user: u, namespace: team-a}}
- {name: two, context: {cluster: c, user: u}}
current-context: one
`, srv.URL)
	if err := os.WriteFile(filepath.Join(dir, "kubeconfig"), []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, api
}

func command(dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(dir, name), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(dir, "kubeconfig"))
	return cmd
}

func runIn(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	out, err := command(dir, name, args...).Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

// TestKubectlPlugin runs the binary as kubectl runs a plugin, through a
// kubectl-orb8 link: help says "kubectl orb8", client commands go to the
// cluster of $KUBECONFIG (or --kubeconfig/--context) and look for the agents
// where --agent-namespace says, while plain orb8 asks the local agent. Which
// namespace the plugin shows is TestPluginTarget's; the plugin against real
// agents is test/e2e's TestClusterKubectlPlugin.
func TestKubectlPlugin(t *testing.T) {
	dir, api := pluginSetup(t)
	if help := runIn(t, dir, "kubectl-orb8", "--help"); !strings.Contains(help, "kubectl orb8 [command]") {
		t.Errorf("plugin help does not say 'kubectl orb8':\n%s", help)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		asked string // the API server's path, "" for none
		err   string
	}{
		{"kubectl-orb8", []string{"workloads"}, "/api/v1/namespaces/orb8/pods", "no running pod of DaemonSet orb8/orb8"},
		{"kubectl-orb8", []string{"flows", "-n", "shop"}, "/api/v1/namespaces/orb8/pods", "no running pod of DaemonSet orb8/orb8"},
		{"kubectl-orb8", []string{"status", "--agent-namespace", "monitoring"}, "/api/v1/namespaces/monitoring/pods", "no running pod of DaemonSet monitoring/orb8"},
		{"kubectl-orb8", []string{"workloads", "--kubeconfig", "KUBECONFIG", "--context", "two"}, "/api/v1/namespaces/orb8/pods", "no running pod of DaemonSet orb8/orb8"},
		{"orb8", []string{"workloads", "--context", "one"}, "/api/v1/namespaces/orb8/pods", "no running pod of DaemonSet orb8/orb8"},
		{"orb8", []string{"workloads", "--agent", "unix:///nonexistent/orb8.sock"}, "", "/nonexistent/orb8.sock"},
		{"kubectl-orb8", []string{"workloads", "--agent", "unix:///nonexistent/orb8.sock"}, "", "/nonexistent/orb8.sock"},
	} {
		for i, a := range tc.args {
			if a == "KUBECONFIG" {
				tc.args[i] = filepath.Join(dir, "kubeconfig")
			}
		}
		out, err := command(dir, tc.name, append(tc.args, "--timeout", "2s")...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.err) {
			t.Errorf("%s %v: err %v, output %q: want a failure saying %q", tc.name, tc.args, err, out, tc.err)
		}
		asked := api.asked()
		if tc.asked == "" && len(asked) > 0 || tc.asked != "" && !slices.Contains(asked, tc.asked) {
			t.Errorf("%s %v asked the API server for %v, want %q", tc.name, tc.args, asked, tc.asked)
		}
	}
}

// completions runs cobra's hidden __complete request and returns the words.
func completions(t *testing.T, dir, name string, args ...string) []string {
	t.Helper()
	out := runIn(t, dir, name, args...)
	var words []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" && !strings.HasPrefix(line, ":") {
			words = append(words, strings.SplitN(line, "\t", 2)[0])
		}
	}
	return words
}

func TestShellCompletion(t *testing.T) {
	dir, _ := pluginSetup(t)
	for _, shell := range []string{"bash", "zsh", "fish"} {
		if out := runIn(t, dir, "orb8", "completion", shell); !strings.Contains(out, "__complete") {
			t.Errorf("orb8 completion %s: no script asking __complete:\n%.300s", shell, out)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"orb8", []string{"__complete", "agent", "--probes", ""}, []string{"default", "all", "process", "network", "dns", "cuda", "syscalls"}},
		{"orb8", []string{"__complete", "top", "--probes", "n"}, []string{"network", "nvml"}},
		{"orb8", []string{"__complete", "trace", ""}, []string{"exec", "exit", "tcp", "dns", "oom"}},
		{"orb8", []string{"__complete", "flows", "-o", ""}, []string{"table", "json", "yaml"}},
		{"orb8", []string{"__complete", "workloads", "--context", ""}, []string{"one", "two"}},
		{"kubectl-orb8", []string{"__complete", "flows", "-n", ""}, []string{"default", "team-a"}},
		{"kubectl_complete-orb8", []string{"top", "--pod", ""}, []string{"web-1"}},
	} {
		got := completions(t, dir, tc.name, tc.args...)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%s %v: completions %v lack %q", tc.name, tc.args, got, w)
			}
		}
	}
}

// TestBashCompletionScript sources `orb8 completion bash` into a real bash
// (with the bash-completion package, as users have it) and presses TAB: the
// script asks the binary, which answers probe names, event kinds and, from
// the cluster, namespaces.
func TestBashCompletionScript(t *testing.T) {
	const bashCompletion = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(bashCompletion); err != nil {
		t.Fatalf("%v: install Debian's bash-completion (hack/test.sh does)", err)
	}
	dir, _ := pluginSetup(t)
	script := runIn(t, dir, "orb8", "completion", "bash")
	scriptFile := filepath.Join(dir, "orb8.bash")
	if err := os.WriteFile(scriptFile, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	tab := func(line string) []string {
		t.Helper()
		words := strings.Fields(line)
		if strings.HasSuffix(line, " ") {
			words = append(words, "")
		}
		cur, prev := words[len(words)-1], words[len(words)-2]
		cmd := exec.Command("bash", "-c", `source "$1"; source "$2"; COMP_LINE="$3"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=($3); `+
			`[[ $3 == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); __start_orb8 orb8 "$4" "$5" 2>/dev/null; printf '%s\n' "${COMPREPLY[@]}"`,
			"bash", bashCompletion, scriptFile, line, cur, prev)
		cmd.Env = append(os.Environ(), "PATH="+dir+string(filepath.ListSeparator)+os.Getenv("PATH"), "KUBECONFIG="+filepath.Join(dir, "kubeconfig"))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("TAB after %q: %v", line, err)
		}
		got := strings.Fields(string(out))
		slices.Sort(got)
		return got
	}
	var probes []string
	for _, p := range agent.ProbeNames() {
		if strings.HasPrefix(p, "n") {
			probes = append(probes, p)
		}
	}
	slices.Sort(probes)
	for line, want := range map[string][]string{
		"orb8 top --probes n": probes,
		"orb8 trace ex":       {"exec", "exit"},
		"orb8 flows -n t":     {"team-a"},
		"orb8 flows -o ":      {"json", "table", "yaml"},
	} {
		if got := tab(line); !slices.Equal(got, want) {
			t.Errorf("TAB after %q: %q, want %q", line, got, want)
		}
	}
}
