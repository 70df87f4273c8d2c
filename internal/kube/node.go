package kube

import (
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
)

var (
	nodeCapacityDesc    = prometheus.NewDesc("orb8_node_capacity", "Node capacity by resource: cpu in cores, memory and storage in bytes, devices (e.g. nvidia.com/gpu) as a count.", []string{"node", "resource"}, nil)
	nodeAllocatableDesc = prometheus.NewDesc("orb8_node_allocatable", "Node resources allocatable to pods, in the units of orb8_node_capacity.", []string{"node", "resource"}, nil)
	nodeInfoDesc        = prometheus.NewDesc("orb8_node_info", "Node facts from the Kubernetes API (always 1).", []string{"node", "kernel_version", "os_image", "container_runtime", "kubelet_version", "architecture"}, nil)
	nodeLabelDesc       = prometheus.NewDesc("orb8_node_label", "One series per node label (always 1).", []string{"node", "key", "value"}, nil)
	kubeSyncedDesc      = prometheus.NewDesc("orb8_kube_synced", "1 once the informer of a resource has listed it from the API server.", []string{"resource"}, nil)
	kubePodsDesc        = prometheus.NewDesc("orb8_kube_pods", "Pods the agent knows on this node (deleted ones in their grace period included).", nil, nil)
	kubeRefusingDesc    = prometheus.NewDesc("orb8_kube_api_refusing", "1 while the API server refuses the agent's connections and its informers wait for it (pods started meanwhile are named when it answers), else 0.", nil, nil)
)

// Describe implements prometheus.Collector.
func (w *Watcher) Describe(ch chan<- *prometheus.Desc) { DescribeNode(ch) }

// DescribeNode sends the descriptors of what a Watcher exports.
func DescribeNode(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nodeCapacityDesc, nodeAllocatableDesc, nodeInfoDesc, nodeLabelDesc, kubeSyncedDesc, kubePodsDesc, kubeRefusingDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the node's resources and labels as
// last seen, whether each informer has synced, and whether the API server
// refuses connections now.
func (w *Watcher) Collect(ch chan<- prometheus.Metric) {
	for name, inf := range w.informers {
		synced := 0.0
		if inf.HasSynced() {
			synced = 1
		}
		ch <- prometheus.MustNewConstMetric(kubeSyncedDesc, prometheus.GaugeValue, synced, name)
	}
	ch <- prometheus.MustNewConstMetric(kubePodsDesc, prometheus.GaugeValue, float64(w.Pods()))
	refusing := 0.0
	if w.gate.Refusal() != nil {
		refusing = 1
	}
	ch <- prometheus.MustNewConstMetric(kubeRefusingDesc, prometheus.GaugeValue, refusing)
	obj, ok, _ := w.nodes.GetByKey(w.node)
	if !ok {
		return
	}
	n := obj.(*corev1.Node)
	emitResources(ch, nodeCapacityDesc, n.Name, n.Status.Capacity)
	emitResources(ch, nodeAllocatableDesc, n.Name, n.Status.Allocatable)
	i := n.Status.NodeInfo
	ch <- prometheus.MustNewConstMetric(nodeInfoDesc, prometheus.GaugeValue, 1, n.Name, i.KernelVersion, i.OSImage, i.ContainerRuntimeVersion, i.KubeletVersion, i.Architecture)
	for k, v := range n.Labels {
		ch <- prometheus.MustNewConstMetric(nodeLabelDesc, prometheus.GaugeValue, 1, n.Name, k, v)
	}
}

func emitResources(ch chan<- prometheus.Metric, d *prometheus.Desc, node string, rl corev1.ResourceList) {
	for name, q := range rl { // in base units: cpu "250m" -> 0.25
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, q.AsApproximateFloat64(), node, string(name))
	}
}
