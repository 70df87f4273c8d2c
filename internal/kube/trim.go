package kube

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The informers keep only the fields the agent reads: a pod or node object as
// served carries managed fields, specs, annotations and image lists several
// times larger than what enrichment needs (docs/benchmarks.md, Kubernetes).

func trimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion, Labels: m.Labels}
}

// trim is the informers' transform; tombstones and unknown types pass through.
func trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		meta := trimOwned(o.ObjectMeta)
		if hash := o.Annotations[corev1.MirrorPodAnnotationKey]; hash != "" {
			meta.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: hash}
		}
		return &corev1.Pod{
			ObjectMeta: meta,
			Spec:       corev1.PodSpec{NodeName: o.Spec.NodeName, HostNetwork: o.Spec.HostNetwork, Containers: trimContainers(o.Spec.Containers)},
			Status: corev1.PodStatus{
				PodIPs:                     o.Status.PodIPs,
				ContainerStatuses:          trimStatuses(o.Status.ContainerStatuses),
				InitContainerStatuses:      trimStatuses(o.Status.InitContainerStatuses),
				EphemeralContainerStatuses: trimStatuses(o.Status.EphemeralContainerStatuses),
			},
		}, nil
	case *metav1.PartialObjectMetadata: // ReplicaSets, Jobs
		return &metav1.PartialObjectMetadata{TypeMeta: o.TypeMeta, ObjectMeta: trimOwned(o.ObjectMeta)}, nil
	case *corev1.Namespace:
		return &corev1.Namespace{ObjectMeta: trimMeta(o.ObjectMeta)}, nil
	case *corev1.Node:
		return &corev1.Node{
			ObjectMeta: trimMeta(o.ObjectMeta),
			Status:     corev1.NodeStatus{Capacity: o.Status.Capacity, Allocatable: o.Status.Allocatable, NodeInfo: o.Status.NodeInfo},
		}, nil
	case *corev1.Service:
		return &corev1.Service{ObjectMeta: trimMeta(o.ObjectMeta), Spec: corev1.ServiceSpec{ClusterIPs: o.Spec.ClusterIPs}}, nil
	case *discoveryv1.EndpointSlice:
		out := &discoveryv1.EndpointSlice{ObjectMeta: trimMeta(o.ObjectMeta), Endpoints: make([]discoveryv1.Endpoint, 0, len(o.Endpoints))}
		for _, e := range o.Endpoints {
			if e.TargetRef != nil && e.TargetRef.Kind == "Pod" {
				out.Endpoints = append(out.Endpoints, discoveryv1.Endpoint{Addresses: e.Addresses, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: e.TargetRef.Namespace, Name: e.TargetRef.Name}})
			}
		}
		return out, nil
	}
	return obj, nil
}

func trimStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i, s := range in {
		out[i] = corev1.ContainerStatus{Name: s.Name, ContainerID: s.ContainerID}
		if t := s.LastTerminationState.Terminated; t != nil {
			out[i].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ContainerID: t.ContainerID}
		}
	}
	return out
}

// trimOwned keeps, beyond trimMeta, the controller among the owners: what
// names a pod's workload (ReplicaSet -> Deployment, Job -> CronJob).
func trimOwned(m metav1.ObjectMeta) metav1.ObjectMeta {
	out := trimMeta(m)
	if c := metav1.GetControllerOfNoCopy(&m); c != nil {
		out.OwnerReferences = []metav1.OwnerReference{{Kind: c.Kind, Name: c.Name, UID: c.UID, Controller: c.Controller}}
	}
	return out
}

// trimContainers keeps a container's name, image and resources.
func trimContainers(in []corev1.Container) []corev1.Container {
	out := make([]corev1.Container, len(in))
	for i, c := range in {
		out[i] = corev1.Container{Name: c.Name, Image: c.Image, Resources: corev1.ResourceRequirements{Requests: c.Resources.Requests, Limits: c.Resources.Limits}}
	}
	return out
}
