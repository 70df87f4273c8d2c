package cli

import (
	"context"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/apiclient"
)

// clusterCompletionTimeout bounds asking the API server for names while the
// user waits on a TAB.
const clusterCompletionTimeout = 2 * time.Second

// registerCompletions gives every command's flags their shell completions
// (`orb8 completion bash|zsh|fish` writes the scripts that ask for them):
// probe names, output formats, and the cluster's contexts, namespaces and
// pods, read through the kubeconfig when the cluster answers.
func registerCompletions(root *cobra.Command) {
	fixed := map[string][]string{
		"probes":         append([]string{"default", "all"}, agent.ProbeNames()...),
		"disable-probes": agent.ProbeNames(),
		"output":         {"table", "json", "yaml"},
		"log-level":      {"debug", "info", "warn", "error"},
	}
	dynamic := map[string]cobra.CompletionFunc{
		"context":         completeContexts,
		"namespace":       completeNamespaces,
		"agent-namespace": completeNamespaces,
		"pod":             completePods,
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if words, ok := fixed[f.Name]; ok {
				_ = c.RegisterFlagCompletionFunc(f.Name, cobra.FixedCompletions(words, cobra.ShellCompDirectiveNoFileComp))
			} else if fn, ok := dynamic[f.Name]; ok {
				_ = c.RegisterFlagCompletionFunc(f.Name, fn)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// kubeFlags reads the kubeconfig and context the command line gave so far.
func kubeFlags(c *cobra.Command) (kubeconfig, kubeContext string) {
	kubeconfig, _ = c.Flags().GetString("kubeconfig")
	kubeContext, _ = c.Flags().GetString("context")
	return kubeconfig, kubeContext
}

func completeContexts(c *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	kubeconfig, _ := kubeFlags(c)
	names, err := apiclient.KubeContexts(kubeconfig)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

func completeNamespaces(c *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return clusterNames(c, "")
}

// completePods lists the pods of -n's namespace, else of the context's.
func completePods(c *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ns, _ := c.Flags().GetString("namespace")
	if ns == "" {
		var err error
		if ns, err = apiclient.KubeNamespace(kubeFlags(c)); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
	}
	return clusterNames(c, ns)
}

func clusterNames(c *cobra.Command, namespace string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx, cancel := context.WithTimeout(c.Context(), clusterCompletionTimeout)
	defer cancel()
	kubeconfig, kubeContext := kubeFlags(c)
	names, err := apiclient.KubeNames(ctx, kubeconfig, kubeContext, namespace)
	if err != nil {
		cobra.CompDebugln("orb8: "+err.Error(), true)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	slices.Sort(names)
	return names, cobra.ShellCompDirectiveNoFileComp
}
