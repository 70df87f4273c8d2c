package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFilterVisible(t *testing.T) {
	prod := map[string]string{"env": "prod"}
	for _, tc := range []struct {
		name              string
		include, exclude  []string
		podSel, nsSel, ns string
		podLabels, nsLbls map[string]string
		want              bool
	}{
		{name: "no filter", ns: "a", want: true},
		{name: "included", include: []string{"a", "b"}, ns: "b", want: true},
		{name: "not included", include: []string{"a"}, ns: "c", want: false},
		{name: "excluded", exclude: []string{"kube-system"}, ns: "kube-system", want: false},
		{name: "exclude wins over include", include: []string{"a"}, exclude: []string{"a"}, ns: "a", want: false},
		{name: "pod selector matches", podSel: "app=web", ns: "a", podLabels: map[string]string{"app": "web"}, want: true},
		{name: "pod selector misses", podSel: "app=web", ns: "a", podLabels: map[string]string{"app": "db"}, want: false},
		{name: "pod selector inequality", podSel: "tier!=cache", ns: "a", podLabels: map[string]string{"tier": "cache"}, want: false},
		{name: "namespace selector matches", nsSel: "env in (prod)", ns: "a", nsLbls: prod, want: true},
		{name: "namespace selector misses", nsSel: "env=prod", ns: "a", nsLbls: map[string]string{"env": "dev"}, want: false},
		{name: "namespace unknown", nsSel: "env=prod", ns: "a", want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewFilter(tc.include, tc.exclude, tc.podSel, tc.nsSel)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Visible(tc.ns, tc.podLabels, tc.nsLbls); got != tc.want {
				t.Errorf("Visible = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFilterBadSelector(t *testing.T) {
	if _, err := NewFilter(nil, nil, "=web", ""); err == nil {
		t.Error("pod selector =web accepted")
	}
	if _, err := NewFilter(nil, nil, "", "env in (prod"); err == nil {
		t.Error("namespace selector with an open parenthesis accepted")
	}
}

// TestNamespaceRelabelChangesVersion: with a namespace selector, relabelling
// a namespace can hide or show its pods, so the index's version changes
// and the resolver asks Enrich again.
func TestNamespaceRelabelChangesVersion(t *testing.T) {
	f, err := NewFilter(nil, nil, "", "env=prod")
	if err != nil {
		t.Fatal(err)
	}
	x := NewIndex(f)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"env": "prod"}}}
	x.setNamespace(ns, false)
	before := x.Version()
	ns.Labels = map[string]string{"env": "dev"}
	x.setNamespace(ns, false)
	if x.Version() == before {
		t.Errorf("version %d unchanged after the namespace's relabel", before)
	}
}
