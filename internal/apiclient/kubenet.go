package apiclient

import (
	"context"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/orb8/orb8/internal/kube"
)

func coreClient(kubeconfig, kubeContext string) (*rest.RESTClient, error) {
	cfg, err := kubeConfig(kubeconfig, kubeContext).ClientConfig()
	if err != nil {
		return nil, err
	}
	return kube.RESTClient(cfg, corev1.SchemeGroupVersion)
}

// KubeLabelledNamespaces lists the names of the namespaces whose labels
// match selector.
func KubeLabelledNamespaces(ctx context.Context, kubeconfig, kubeContext, selector string) ([]string, error) {
	core, err := coreClient(kubeconfig, kubeContext)
	if err != nil {
		return nil, err
	}
	var list corev1.NamespaceList
	if err := core.Get().Resource("namespaces").VersionedParams(&metav1.ListOptions{LabelSelector: selector}, kube.ParameterCodec).Do(ctx).Into(&list); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list.Items))
	for _, ns := range list.Items {
		names = append(names, ns.Name)
	}
	return names, nil
}

// KubeNodeRanges are the cluster's own addresses as its nodes say: their
// pod CIDRs and their addresses (each as a single-address prefix).
func KubeNodeRanges(ctx context.Context, kubeconfig, kubeContext string) ([]netip.Prefix, error) {
	core, err := coreClient(kubeconfig, kubeContext)
	if err != nil {
		return nil, err
	}
	var list corev1.NodeList
	if err := core.Get().Resource("nodes").VersionedParams(&metav1.ListOptions{}, kube.ParameterCodec).Do(ctx).Into(&list); err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, n := range list.Items {
		for _, c := range append([]string{n.Spec.PodCIDR}, n.Spec.PodCIDRs...) {
			if p, err := netip.ParsePrefix(c); err == nil {
				out = append(out, p.Masked())
			}
		}
		for _, a := range n.Status.Addresses {
			if ip, err := netip.ParseAddr(a.Address); err == nil {
				out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
			}
		}
	}
	return out, nil
}
