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
)

// fakeAPIServer answers what the CLI asks a cluster: the agent pods, one
// agent's workloads and flows through the pod proxy (recording the
// namespace asked for), and
// namespaces and pods for completion.
type fakeAPIServer struct {
	mu      sync.Mutex
	queries []string
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/api/v1/pods":
		fmt.Fprint(w, `{"kind":"PodList","apiVersion":"v1","items":[{"metadata":{"name":"orb8-x","namespace":"orb8"},
			"spec":{"nodeName":"n1","containers":[{"name":"agent","ports":[{"name":"metrics","containerPort":9808}]}]},
			"status":{"phase":"Running"}}]}`)
	case r.URL.Path == "/api/v1/namespaces/orb8/pods/http:orb8-x:9808/proxy/api/v1/workloads",
		r.URL.Path == "/api/v1/namespaces/orb8/pods/http:orb8-x:9808/proxy/api/v1/flows":
		f.mu.Lock()
		f.queries = append(f.queries, r.URL.Query().Get("namespace"))
		f.mu.Unlock()
		fmt.Fprint(w, `{}`)
	case r.URL.Path == "/api/v1/namespaces":
		fmt.Fprint(w, `{"kind":"NamespaceList","apiVersion":"v1","items":[{"metadata":{"name":"team-a"}},{"metadata":{"name":"default"}}]}`)
	case r.URL.Path == "/api/v1/namespaces/team-a/pods":
		fmt.Fprint(w, `{"kind":"PodList","apiVersion":"v1","items":[{"metadata":{"name":"web-1","namespace":"team-a"}}]}`)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeAPIServer) lastQuery(t *testing.T) string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queries) == 0 {
		t.Fatal("no query reached the agent")
	}
	q := f.queries[len(f.queries)-1]
	f.queries = nil
	return q
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

func runIn(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(dir, name), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(dir, "kubeconfig"))
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

// TestKubectlPlugin runs the binary as kubectl runs a plugin: through a
// kubectl-orb8 link, with kubectl's --context, -n/-A and $KUBECONFIG.
func TestKubectlPlugin(t *testing.T) {
	dir, api := pluginSetup(t)
	if help := runIn(t, dir, "kubectl-orb8", "--help"); !strings.Contains(help, "kubectl orb8 [command]") {
		t.Errorf("plugin help does not say 'kubectl orb8':\n%s", help)
	}
	for _, tc := range []struct {
		name      string
		args      []string
		namespace string
	}{
		{"kubectl-orb8", []string{"workloads"}, "team-a"},                      // the current context's namespace
		{"kubectl-orb8", []string{"workloads", "--context", "two"}, "default"}, // kubectl's default
		{"kubectl-orb8", []string{"workloads", "-n", "web"}, "web"},
		{"kubectl-orb8", []string{"workloads", "-A"}, ""},
		{"kubectl-orb8", []string{"flows"}, "team-a"},
		{"kubectl-orb8", []string{"flows", "-n", "shop", "--kubeconfig", "KUBECONFIG"}, "shop"},
		{"orb8", []string{"workloads", "--context", "one"}, ""}, // --context alone: the cluster, every namespace
	} {
		for i, a := range tc.args {
			if a == "KUBECONFIG" {
				tc.args[i] = filepath.Join(dir, "kubeconfig")
			}
		}
		runIn(t, dir, tc.name, append(tc.args, "-o", "json")...)
		if got := api.lastQuery(t); got != tc.namespace {
			t.Errorf("%s %v asked for namespace %q, want %q", tc.name, tc.args, got, tc.namespace)
		}
	}
	// An explicit --agent is one agent, not the cluster.
	cmd := exec.Command(filepath.Join(dir, "kubectl-orb8"), "workloads", "--agent", "127.0.0.1:1", "--timeout", "500ms")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(dir, "kubeconfig"))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "127.0.0.1:1") {
		t.Errorf("kubectl-orb8 --agent 127.0.0.1:1: err %v, output %q: want a failure naming the agent", err, out)
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
