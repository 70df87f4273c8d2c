package cli

import (
	"context"

	"github.com/spf13/cobra"
)

// The names kubectl finds orb8 under: a kubectl-orb8 on PATH makes
// `kubectl orb8 ...` run it, and kubectl (1.26+) completes `kubectl orb8 <TAB>`
// by running kubectl_complete-orb8 with the words typed so far.
const (
	pluginName         = "kubectl-orb8"
	pluginCompleteName = "kubectl_complete-orb8"
)

type pluginKey struct{}

// invokedAs adapts root and args to the name orb8 was run as. As the kubectl
// plugin, help says "kubectl orb8", and client commands follow kubectl: the
// cluster's agents by default, in the context's namespace.
func invokedAs(ctx context.Context, root *cobra.Command, name string, args []string) (context.Context, []string) {
	switch name {
	case pluginCompleteName:
		args = append([]string{cobra.ShellCompRequestCmd}, args...)
	case pluginName:
	default:
		return ctx, args
	}
	if root.Annotations == nil {
		root.Annotations = map[string]string{}
	}
	root.Annotations[cobra.CommandDisplayNameAnnotation] = "kubectl orb8"
	root.Long = root.Short + `

As a kubectl plugin, client commands (top, flows, requests, trace, workloads, status)
ask every agent of the cluster through the API server (as with --all-nodes)
unless --agent is given, and show the kubeconfig context's namespace unless
-n or -A (every namespace) is given. --kubeconfig and --context work as in kubectl.`
	return context.WithValue(ctx, pluginKey{}, true), args
}

// asKubectlPlugin reports whether orb8 runs as the kubectl plugin.
func asKubectlPlugin(ctx context.Context) bool {
	v, _ := ctx.Value(pluginKey{}).(bool)
	return v
}
