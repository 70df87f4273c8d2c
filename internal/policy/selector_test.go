package policy

import (
	"fmt"
	"testing"
)

func TestSelects(t *testing.T) {
	web := Target{Cgroup: "/kubepods.slice/pod1/cri-1", Namespace: "shop", Pod: "web-1", Container: "nginx",
		PodLabels: map[string]string{"app": "web", "tier": "front"}}
	db := Target{Cgroup: "/kubepods.slice/pod2/cri-2", Namespace: "shop", Pod: "db-1", Container: "postgres",
		PodLabels: map[string]string{"app": "db"}}
	other := Target{Cgroup: "/kubepods.slice/pod3/cri-3", Namespace: "dev", Pod: "web-2", Container: "nginx",
		PodLabels: map[string]string{"app": "web"}}
	host := Target{Cgroup: "/system.slice/foo.service"}
	hostChild := Target{Cgroup: "/system.slice/foo.service/worker"}
	hostSibling := Target{Cgroup: "/system.slice/foo.servicex"}
	targets := []Target{web, db, other, host, hostChild, hostSibling}
	names := []string{"web", "db", "other", "host", "hostChild", "hostSibling"}

	cluster := func(s Selector) Policy { return Policy{Kind: KindCluster, Name: "p", Selector: s} }
	namespaced := func(ns string, s Selector) Policy {
		return Policy{Kind: KindNamespaced, Name: "p", Namespace: ns, Selector: s}
	}
	labels := func(m map[string]string, exprs ...LabelRequirement) *LabelSelector {
		return &LabelSelector{MatchLabels: m, MatchExpressions: exprs}
	}
	tests := []struct {
		name   string
		policy Policy
		want   []string // the names of the targets selected
	}{
		{"empty cluster selector", cluster(Selector{}), names},
		{"empty namespaced selector", namespaced("shop", Selector{}), []string{"web", "db"}},
		{"namespaced, other namespace", namespaced("dev", Selector{}), []string{"other"}},
		{"namespaces", cluster(Selector{Namespaces: []string{"dev", "prod"}}), []string{"other"}},
		{"empty pod selector: every pod", cluster(Selector{PodSelector: &LabelSelector{}}), []string{"web", "db", "other"}},
		{"matchLabels", cluster(Selector{PodSelector: labels(map[string]string{"app": "web"})}), []string{"web", "other"}},
		{"matchLabels, all must match", cluster(Selector{PodSelector: labels(map[string]string{"app": "web", "tier": "front"})}), []string{"web"}},
		{"containers", cluster(Selector{Containers: []string{"postgres", "redis"}}), []string{"db"}},
		{"cgroups", cluster(Selector{Cgroups: []string{"/system.slice/foo.service"}}), []string{"host", "hostChild"}},
		{"cgroups, several", cluster(Selector{Cgroups: []string{"/kubepods.slice/pod2", "/system.slice/foo.servicex"}}), []string{"db", "hostSibling"}},
		{"cgroup root", cluster(Selector{Cgroups: []string{"/"}}), names},
		{"namespaces and labels", cluster(Selector{Namespaces: []string{"shop"}, PodSelector: labels(map[string]string{"app": "web"})}), []string{"web"}},
		{"labels and containers", cluster(Selector{PodSelector: labels(map[string]string{"app": "web"}), Containers: []string{"nginx"}}), []string{"web", "other"}},
		{"containers and cgroups", cluster(Selector{Containers: []string{"nginx"}, Cgroups: []string{"/kubepods.slice/pod3"}}), []string{"other"}},
		{"containers exclude hosts under cgroups", cluster(Selector{Containers: []string{"nginx"}, Cgroups: []string{"/"}}), []string{"web", "other"}},
		{"all parts", cluster(Selector{Namespaces: []string{"shop"}, PodSelector: labels(map[string]string{"app": "web"}),
			Containers: []string{"nginx"}, Cgroups: []string{"/kubepods.slice"}}), []string{"web"}},
		{"all parts, cgroup misses", cluster(Selector{Namespaces: []string{"shop"}, PodSelector: labels(map[string]string{"app": "web"}),
			Containers: []string{"nginx"}, Cgroups: []string{"/kubepods.slice/pod2"}}), nil},
		{"namespaced with containers", namespaced("shop", Selector{Containers: []string{"nginx"}}), []string{"web"}},
		{"namespaced with cgroups", namespaced("shop", Selector{Cgroups: []string{"/"}}), []string{"web", "db"}},
		{"In", cluster(Selector{PodSelector: labels(nil, LabelRequirement{Key: "app", Operator: OpIn, Values: []string{"db", "cache"}})}), []string{"db"}},
		{"NotIn: absent label matches", cluster(Selector{PodSelector: labels(nil, LabelRequirement{Key: "tier", Operator: OpNotIn, Values: []string{"front"}})}), []string{"db", "other"}},
		{"Exists", cluster(Selector{PodSelector: labels(nil, LabelRequirement{Key: "tier", Operator: OpExists})}), []string{"web"}},
		{"DoesNotExist", cluster(Selector{PodSelector: labels(nil, LabelRequirement{Key: "tier", Operator: OpDoesNotExist})}), []string{"db", "other"}},
		{"expressions and labels", cluster(Selector{PodSelector: labels(map[string]string{"app": "web"},
			LabelRequirement{Key: "tier", Operator: OpDoesNotExist})}), []string{"other"}},
		{"unknown operator matches nothing", cluster(Selector{PodSelector: labels(nil, LabelRequirement{Key: "app", Operator: "Has"})}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for i, target := range targets {
				if tt.policy.Selects(target) {
					got = append(got, names[i])
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("selected %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCgroupUnder(t *testing.T) {
	tests := []struct {
		path, prefix string
		want         bool
	}{
		{"/a/b", "/a/b", true},
		{"/a/b/c", "/a/b", true},
		{"/a/bc", "/a/b", false},
		{"/a", "/a/b", false},
		{"/a/b", "/", true},
		{"", "/", false},
		{"", "/a", false},
	}
	for _, tt := range tests {
		if got := cgroupUnder(tt.path, tt.prefix); got != tt.want {
			t.Errorf("cgroupUnder(%q, %q) = %v, want %v", tt.path, tt.prefix, got, tt.want)
		}
	}
}
