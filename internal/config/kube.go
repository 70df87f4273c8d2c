package config

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/orb8/orb8/internal/humanize"
)

// Kube holds the Kubernetes settings: where the API server is, which node the
// agent runs on, and which pods it reports on.
type Kube struct {
	Kubeconfig string
	NodeName   string
	// Filters: a pod is reported when its namespace is included (or no
	// include list is set), not excluded, and both selectors match. Cgroups
	// that belong to no pod are always reported.
	IncludeNamespaces []string
	ExcludeNamespaces []string
	PodSelector       string
	NamespaceSelector string
}

// defaultNodeName is $NODE_NAME, then the hostname.
func defaultNodeName() string {
	if n := os.Getenv("NODE_NAME"); n != "" {
		return n
	}
	n, _ := os.Hostname()
	return n
}

func (k *Kube) bindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&k.Kubeconfig, "kubeconfig", k.Kubeconfig, "kubeconfig file; empty: in-cluster config inside a pod, else standalone (no pod names)")
	fs.StringVar(&k.NodeName, "node-name", k.NodeName, "this node's Kubernetes name (default $NODE_NAME, then the hostname)")
	fs.StringSliceVar(&k.IncludeNamespaces, "include-namespaces", k.IncludeNamespaces, "report only pods in these namespaces (default: all)")
	fs.StringSliceVar(&k.ExcludeNamespaces, "exclude-namespaces", k.ExcludeNamespaces, "never report pods in these namespaces")
	fs.StringVar(&k.PodSelector, "pod-selector", k.PodSelector, "report only pods whose labels match this selector, e.g. app=web,tier!=cache")
	fs.StringVar(&k.NamespaceSelector, "namespace-selector", k.NamespaceSelector, "report only pods whose namespace's labels match this selector")
}

func (k *Kube) validate() error {
	if k.NodeName == "" {
		return fmt.Errorf("--node-name is empty and neither $NODE_NAME nor the hostname is set")
	}
	for flag, sel := range map[string]string{"pod-selector": k.PodSelector, "namespace-selector": k.NamespaceSelector} {
		if _, err := labels.Parse(sel); err != nil {
			return fmt.Errorf("invalid --%s %q: %s", flag, sel, humanize.OneLine(err.Error()))
		}
	}
	return nil
}
