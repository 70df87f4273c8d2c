package apiclient

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/orb8/orb8/internal/humanize"
	"github.com/orb8/orb8/internal/kube"
)

// kubeConfig loads a kubeconfig the way kubectl does: the file (empty:
// $KUBECONFIG, then ~/.kube/config) with context (empty: the current one).
func kubeConfig(kubeconfig, kubeContext string) clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
}

// KubeRESTConfig is the API server's address and credentials in a
// kubeconfig (see kubeConfig), with its errors on one line.
func KubeRESTConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	cfg, err := kubeConfig(kubeconfig, kubeContext).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %s", humanize.OneLine(err.Error()))
	}
	return cfg, nil
}

// KubeNamespace is the namespace of the kubeconfig's context, "default"
// when the context names none (kubectl's rule).
func KubeNamespace(kubeconfig, kubeContext string) (string, error) {
	ns, _, err := kubeConfig(kubeconfig, kubeContext).Namespace()
	if err != nil {
		return "", fmt.Errorf("kubeconfig: %s", humanize.OneLine(err.Error()))
	}
	return ns, nil
}

// KubeContexts lists the kubeconfig's context names, sorted.
func KubeContexts(kubeconfig string) ([]string, error) {
	raw, err := kubeConfig(kubeconfig, "").RawConfig()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(raw.Contexts))
	for n := range raw.Contexts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// KubeNames lists the names of the namespaces (namespace empty) or of the
// pods of a namespace: the first 500, plenty for shell completion.
func KubeNames(ctx context.Context, kubeconfig, kubeContext, namespace string) ([]string, error) {
	cfg, err := kubeConfig(kubeconfig, kubeContext).ClientConfig()
	if err != nil {
		return nil, err
	}
	core, err := kube.RESTClient(cfg, corev1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	opts := &metav1.ListOptions{Limit: 500}
	var names []string
	if namespace == "" {
		var list corev1.NamespaceList
		if err := core.Get().Resource("namespaces").VersionedParams(opts, kube.ParameterCodec).Do(ctx).Into(&list); err != nil {
			return nil, err
		}
		for _, item := range list.Items {
			names = append(names, item.Name)
		}
		return names, nil
	}
	var list corev1.PodList
	if err := core.Get().Namespace(namespace).Resource("pods").VersionedParams(opts, kube.ParameterCodec).Do(ctx).Into(&list); err != nil {
		return nil, err
	}
	for _, item := range list.Items {
		names = append(names, item.Name)
	}
	return names, nil
}
