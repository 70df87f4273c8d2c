package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestPluginTarget: which agents and which namespace a client command asks,
// by kubectl's conventions as a plugin and orb8's own otherwise.
func TestPluginTarget(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- {name: c, cluster: {server: "https://127.0.0.1:1"}}
users:
- {name: u, user: {token: t}}
contexts:
- {name: one, context: {cluster: c, user: u, namespace: team-a}}
- {name: two, context: {cluster: c, user: u}}
current-context: one
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	plugin := context.WithValue(context.Background(), pluginKey{}, true)
	for _, tc := range []struct {
		ctx       context.Context
		args      []string
		allNodes  bool
		namespace string
		err       string
	}{
		{plugin, nil, true, "team-a", ""},                           // the current context's namespace
		{plugin, []string{"--context", "two"}, true, "default", ""}, // kubectl's default
		{plugin, []string{"-n", "web"}, true, "web", ""},
		{plugin, []string{"-A"}, true, "", ""},
		{plugin, []string{"-A", "-n", "web"}, false, "", "-n/--namespace and -A/--all-namespaces go apart"},
		{plugin, []string{"--agent", "unix:///run/x.sock"}, false, "", ""}, // one agent: no kubeconfig namespace
		{plugin, []string{"--kubeconfig", kubeconfig, "--context", "one"}, true, "team-a", ""},
		{context.Background(), nil, false, "", ""}, // the local agent, every namespace
		{context.Background(), []string{"--context", "two"}, true, "", ""},
		{context.Background(), []string{"--kubeconfig", kubeconfig}, true, "", ""},
		{context.Background(), []string{"--kubeconfig", kubeconfig, "--agent", "unix:///run/x.sock"}, false, "", ""},
		{context.Background(), []string{"--all-nodes", "-n", "shop"}, true, "shop", ""},
	} {
		name := fmt.Sprintf("plugin=%v %v", tc.ctx != context.Background(), tc.args)
		var o clientOptions
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		o.bind(fs, defaultAgent)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		err := o.settleTarget(tc.ctx)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if o.allNodes != tc.allNodes || o.namespace != tc.namespace {
			t.Errorf("%s: all-nodes %v namespace %q, want %v %q", name, o.allNodes, o.namespace, tc.allNodes, tc.namespace)
		}
	}
}
