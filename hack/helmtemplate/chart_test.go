package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir      = "../../deploy/helm/orb8"
	dashboardsDir = "../../deploy/dashboards"
	rulesFile     = "../../deploy/prometheus/orb8-rules.yaml"
)

// everythingOn is the chart with every optional part rendered.
var everythingOn = []string{"createNamespace=true", "gpu.enabled=true", "dashboards.enabled=true", "anomalyDetection.enabled=true",
	"prometheusRule.enabled=true", "serviceMonitor.enabled=true",
	"cluster.name=prod-eu", "remoteWrite.enabled=true", "remoteWrite.url=https://receive.example:19291/api/v1/receive"}

// object is one rendered manifest: its kind and name, and the YAML to decode
// into a typed object.
type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	raw []byte
}

func renderObjects(t *testing.T, sets ...string) []object {
	t.Helper()
	out, err := render(chartDir, "orb8", "orb8", nil, sets)
	if err != nil {
		t.Fatal(err)
	}
	var objs []object
	for _, doc := range releaseutil.SplitManifests(out) {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("rendered document is not YAML: %v\n%s", err, doc)
		}
		if o.Kind == "" {
			continue // a document with only the "# Source" comment
		}
		o.raw = []byte(doc)
		objs = append(objs, o)
	}
	return objs
}

func ofKind(objs []object, kind string) []object {
	var r []object
	for _, o := range objs {
		if o.Kind == kind {
			r = append(r, o)
		}
	}
	return r
}

// decode decodes o into a typed object, failing on fields it does not know.
func decode(t *testing.T, o object, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(o.raw, into); err != nil {
		t.Fatalf("%s %s: %v", o.Kind, o.Metadata.Name, err)
	}
}

// decodePart decodes the fields of o that into names (for kinds without Go
// types here: PrometheusRule, ServiceMonitor).
func decodePart(t *testing.T, o object, into any) {
	t.Helper()
	if err := yaml.Unmarshal(o.raw, into); err != nil {
		t.Fatalf("%s %s: %v", o.Kind, o.Metadata.Name, err)
	}
}

// TestChartIsUnprivileged: no document anywhere sets privileged: true, and
// the agent container says privileged: false outright.
func TestChartIsUnprivileged(t *testing.T) {
	objs := renderObjects(t, everythingOn...)
	for _, o := range objs {
		var doc any
		decode(t, o, &doc)
		if path := findPrivileged(doc, o.Kind); path != "" {
			t.Errorf("%s sets privileged: true", path)
		}
	}
	ds := ofKind(objs, "DaemonSet")
	if len(ds) != 1 {
		t.Fatalf("%d DaemonSets rendered, want 1", len(ds))
	}
	var d appsv1.DaemonSet
	decode(t, ds[0], &d)
	for _, c := range d.Spec.Template.Spec.Containers {
		if sc := c.SecurityContext; sc == nil || sc.Privileged == nil || *sc.Privileged {
			t.Errorf("container %s: privileged is not explicitly false", c.Name)
		}
	}
}

// findPrivileged returns the path of the first "privileged: true" in v.
func findPrivileged(v any, path string) string {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k == "privileged" && e == true {
				return path + "." + k
			}
			if p := findPrivileged(e, path+"."+k); p != "" {
				return p
			}
		}
	case []any:
		for _, e := range v {
			if p := findPrivileged(e, path+"[]"); p != "" {
				return p
			}
		}
	}
	return ""
}

// TestChartRBACIsReadOnly: every role the chart grants reads, never writes.
// The exceptions change nothing or only what is the agent's: the agent asks
// the API server who its callers are and what they may see (reviews),
// writes the status of security policies and Events on the pods they acted
// on, and the client Role lets a user open a port forwarding to an agent,
// whose own checks then apply.
func TestChartRBACIsReadOnly(t *testing.T) {
	objs := renderObjects(t, everythingOn...)
	roles := append(ofKind(objs, "ClusterRole"), ofKind(objs, "Role")...)
	if len(roles) == 0 {
		t.Fatal("no Role or ClusterRole rendered")
	}
	allowed := map[string]bool{
		"ClusterRole orb8 create tokenreviews":                   true,
		"ClusterRole orb8 create subjectaccessreviews":           true,
		"ClusterRole orb8 update clustersecuritypolicies/status": true,
		"ClusterRole orb8 update securitypolicies/status":        true,
		"ClusterRole orb8 create events":                         true,
		"ClusterRole orb8 patch events":                          true,
		"Role orb8-client create pods/portforward":               true,
	}
	for _, o := range roles {
		var r rbacv1.ClusterRole // a Role has the same rules
		decode(t, o, &r)
		for _, rule := range r.Rules {
			for _, v := range rule.Verbs {
				if v == "get" || v == "list" || v == "watch" {
					continue
				}
				for _, res := range rule.Resources {
					if !allowed[o.Kind+" "+o.Metadata.Name+" "+v+" "+res] {
						t.Errorf("%s %s grants %q on %s", o.Kind, o.Metadata.Name, v, res)
					}
				}
			}
		}
	}
}

// TestChartPrometheusRuleIsTheRulesFile: the PrometheusRule's spec is the
// plain rules file, every alert and its templates unchanged.
func TestChartPrometheusRuleIsTheRulesFile(t *testing.T) {
	if n := len(ofKind(renderObjects(t), "PrometheusRule")); n != 0 {
		t.Errorf("default values render %d PrometheusRules; it needs the operator's CRDs, so it is opt-in", n)
	}
	prs := ofKind(renderObjects(t, everythingOn...), "PrometheusRule")
	if len(prs) != 1 {
		t.Fatalf("%d PrometheusRules rendered, want 1", len(prs))
	}
	var pr struct {
		Spec rulesSpec `json:"spec"`
	}
	decodePart(t, prs[0], &pr)
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var want rulesSpec
	if err := yaml.UnmarshalStrict(data, &want); err != nil {
		t.Fatal(err)
	}
	if have, want := pr.Spec.alerts(), want.alerts(); len(want) < 7 || !reflect.DeepEqual(have, want) {
		t.Errorf("PrometheusRule alerts %v, want those of %s: %v", have, rulesFile, want)
	}
	if !reflect.DeepEqual(pr.Spec, want) {
		t.Errorf("PrometheusRule spec differs from %s", rulesFile)
	}
	if !strings.Contains(string(prs[0].raw), "{{ $labels.namespace }}") {
		t.Error("the rules' {{ $labels }} templates did not survive rendering")
	}
}

type rulesSpec struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Record      string            `json:"record"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

func (s rulesSpec) alerts() []string {
	var names []string
	for _, g := range s.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				names = append(names, r.Alert)
			}
		}
	}
	return names
}

// TestChartShipsEveryDashboard: one ConfigMap per deploy/dashboards/*.json,
// labeled for the Grafana sidecar, holding the file byte for byte.
func TestChartShipsEveryDashboard(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s: %v", dashboardsDir, err)
	}
	var maps []corev1.ConfigMap
	for _, o := range ofKind(renderObjects(t, everythingOn...), "ConfigMap") {
		if o.Metadata.Labels["grafana_dashboard"] == "1" {
			var cm corev1.ConfigMap
			decode(t, o, &cm)
			maps = append(maps, cm)
		}
	}
	if len(maps) != len(files) {
		t.Errorf("%d dashboard ConfigMaps, want %d (one per file)", len(maps), len(files))
	}
	for _, f := range files {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		key := filepath.Base(f)
		i := slices.IndexFunc(maps, func(cm corev1.ConfigMap) bool { _, ok := cm.Data[key]; return ok })
		switch {
		case i < 0:
			t.Errorf("no dashboard ConfigMap holds %s", key)
		case len(maps[i].Data) != 1:
			t.Errorf("ConfigMap %s holds %d keys, want only %s", maps[i].Name, len(maps[i].Data), key)
		case maps[i].Data[key] != string(want):
			t.Errorf("ConfigMap %s: %s differs from %s", maps[i].Name, key, f)
		}
	}
}

// TestChartServiceMonitorScrapesMetricsPort: the ServiceMonitor's endpoint,
// its Service's port and the agent's container port are all "metrics".
func TestChartServiceMonitorScrapesMetricsPort(t *testing.T) {
	objs := renderObjects(t, everythingOn...)
	sms := ofKind(objs, "ServiceMonitor")
	if len(sms) != 1 {
		t.Fatalf("%d ServiceMonitors rendered, want 1", len(sms))
	}
	var sm struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			Endpoints []struct {
				Port string `json:"port"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	decodePart(t, sms[0], &sm)
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" {
		t.Errorf("ServiceMonitor endpoints %+v, want one on port metrics", sm.Spec.Endpoints)
	}
	var svc *corev1.Service
	for _, o := range ofKind(objs, "Service") {
		var s corev1.Service
		decode(t, o, &s)
		if matches(sm.Spec.Selector.MatchLabels, s.Labels) {
			if svc != nil {
				t.Fatalf("the ServiceMonitor selects Services %s and %s", svc.Name, s.Name)
			}
			svc = &s
		}
	}
	if svc == nil {
		t.Fatal("the ServiceMonitor selects no Service of the chart")
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "metrics" || svc.Spec.Ports[0].TargetPort.String() != "metrics" {
		t.Errorf("Service %s ports %+v, want one named metrics targeting the container port metrics", svc.Name, svc.Spec.Ports)
	}
	var d appsv1.DaemonSet
	decode(t, ofKind(objs, "DaemonSet")[0], &d)
	if !matches(svc.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("Service selector %v does not select the agent pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
	}
	if !slices.ContainsFunc(d.Spec.Template.Spec.Containers[0].Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" }) {
		t.Error("the agent container has no port named metrics")
	}
}

func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// TestChartLintsAndPackages: Helm's linter finds no warning, and the
// archive make release ships is written.
func TestChartLintsAndPackages(t *testing.T) {
	dir := t.TempDir()
	if err := lintAndPackage(chartDir, "orb8", dir); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "orb8-*.tgz"))
	if len(matches) != 1 {
		t.Fatalf("archives written: %v", matches)
	}
}

// TestChartHardening: by default the agent container runs under the
// runtime's seccomp profile, at system-node-critical priority, without
// DAC_READ_SEARCH, with every host directory but the API socket's (where the
// agent creates its socket) mounted read-only, and without
// an AppArmor profile, which is applied only when asked for.
func TestChartHardening(t *testing.T) {
	agent := func(sets ...string) (corev1.PodSpec, corev1.Container) {
		t.Helper()
		var d appsv1.DaemonSet
		decode(t, ofKind(renderObjects(t, sets...), "DaemonSet")[0], &d)
		return d.Spec.Template.Spec, d.Spec.Template.Spec.Containers[0]
	}
	pod, c := agent(everythingOn...)
	if pod.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName %q, want system-node-critical", pod.PriorityClassName)
	}
	sc := c.SecurityContext
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile %+v, want RuntimeDefault", sc.SeccompProfile)
	}
	if sc.AppArmorProfile != nil {
		t.Errorf("appArmorProfile %+v by default, want none (nodes without AppArmor refuse it)", sc.AppArmorProfile)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if slices.Contains(sc.Capabilities.Add, "DAC_READ_SEARCH") || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("capabilities %+v: want ALL dropped and no DAC_READ_SEARCH", sc.Capabilities)
	}
	hostPaths := map[string]bool{}
	for _, v := range pod.Volumes {
		hostPaths[v.Name] = v.HostPath != nil
	}
	for _, m := range c.VolumeMounts {
		if hostPaths[m.Name] && !m.ReadOnly && m.Name != "api-socket" && m.Name != "state" {
			t.Errorf("host directory %s mounted read-write at %s", m.Name, m.MountPath)
		}
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/sys/kernel/tracing" && m.ReadOnly }) {
		t.Error("tracefs is not mounted read-only at /sys/kernel/tracing")
	}

	_, c = agent("appArmorProfile.type=Localhost", "appArmorProfile.localhostProfile=orb8", "seccompProfile.type=Localhost",
		"seccompProfile.localhostProfile=profiles/orb8.json")
	if p := c.SecurityContext.AppArmorProfile; p == nil || p.Type != corev1.AppArmorProfileTypeLocalhost || p.LocalhostProfile == nil || *p.LocalhostProfile != "orb8" {
		t.Errorf("appArmorProfile %+v, want Localhost orb8", p)
	}
	if p := c.SecurityContext.SeccompProfile; p == nil || p.Type != corev1.SeccompProfileTypeLocalhost || p.LocalhostProfile == nil || *p.LocalhostProfile != "profiles/orb8.json" {
		t.Errorf("seccompProfile %+v, want Localhost profiles/orb8.json", p)
	}
}

// TestChartPolicies: by default the chart installs both policy CRDs (kept on
// uninstall) and has the agent enforce them, with the rights that needs;
// policies.enabled=false leaves out all three.
func TestChartPolicies(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		objs := renderObjects(t, "policies.enabled="+strconv.FormatBool(enabled))
		var kinds []string
		for _, o := range ofKind(objs, "CustomResourceDefinition") {
			var crd struct {
				Metadata struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
				Spec struct {
					Group string `json:"group"`
					Names struct {
						Kind string `json:"kind"`
					} `json:"names"`
				} `json:"spec"`
			}
			decodePart(t, o, &crd)
			if crd.Spec.Group != "orb8.dev" || crd.Metadata.Annotations["helm.sh/resource-policy"] != "keep" {
				t.Errorf("CRD %s: group %q, annotations %v", o.Metadata.Name, crd.Spec.Group, crd.Metadata.Annotations)
			}
			kinds = append(kinds, crd.Spec.Names.Kind)
		}
		slices.Sort(kinds)
		var cm corev1.ConfigMap
		for _, o := range ofKind(objs, "ConfigMap") {
			if o.Metadata.Name == "orb8" {
				decode(t, o, &cm)
			}
		}
		var cfg map[string]any
		if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
			t.Fatal(err)
		}
		var role rbacv1.ClusterRole
		for _, o := range ofKind(objs, "ClusterRole") {
			if o.Metadata.Name == "orb8" {
				decode(t, o, &role)
			}
		}
		grantsPolicies := slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.APIGroups, "orb8.dev") })
		if enabled {
			if !slices.Equal(kinds, []string{"ClusterSecurityPolicy", "SecurityPolicy"}) || cfg["kube-policies"] != true || !grantsPolicies {
				t.Errorf("policies enabled: CRDs %v, kube-policies %v, ClusterRole grants policies %v", kinds, cfg["kube-policies"], grantsPolicies)
			}
		} else if len(kinds) != 0 || cfg["kube-policies"] != nil || grantsPolicies {
			t.Errorf("policies disabled: CRDs %v, kube-policies %v, ClusterRole grants policies %v", kinds, cfg["kube-policies"], grantsPolicies)
		}
	}
}

// TestChartAnomalyDetection: anomalyDetection.enabled turns detection on
// with its learning window, and keeps the profiles in a host directory of
// the node (state-dir), the agent's only other writable mount; off, none of
// them.
func TestChartAuditTrail(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		var cm corev1.ConfigMap
		for _, o := range ofKind(renderObjects(t, "auditTrail.enabled="+strconv.FormatBool(enabled)), "ConfigMap") {
			if o.Metadata.Name == "orb8" {
				decode(t, o, &cm)
			}
		}
		var cfg map[string]any
		if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
			t.Fatal(err)
		}
		var want any
		if enabled {
			want = true
		}
		if cfg["audit-trail"] != want {
			t.Errorf("auditTrail.enabled=%v: audit-trail = %v, want %v", enabled, cfg["audit-trail"], want)
		}
	}
}

func TestChartAnomalyDetection(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		objs := renderObjects(t, "anomalyDetection.enabled="+strconv.FormatBool(enabled), "anomalyDetection.learning=36h")
		var cm corev1.ConfigMap
		for _, o := range ofKind(objs, "ConfigMap") {
			if o.Metadata.Name == "orb8" {
				decode(t, o, &cm)
			}
		}
		var cfg map[string]any
		if err := yaml.Unmarshal([]byte(cm.Data["config.yaml"]), &cfg); err != nil {
			t.Fatal(err)
		}
		var d appsv1.DaemonSet
		decode(t, ofKind(objs, "DaemonSet")[0], &d)
		pod := d.Spec.Template.Spec
		mounted := slices.ContainsFunc(pod.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == "state" && m.MountPath == "/var/lib/orb8" && !m.ReadOnly
		})
		onHost := slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool {
			return v.Name == "state" && v.HostPath != nil && v.HostPath.Path == "/var/lib/orb8"
		})
		got := []any{cfg["anomaly-detection"], cfg["anomaly-learning"], cfg["state-dir"], mounted, onHost}
		want := []any{true, "36h", "/var/lib/orb8", true, true}
		if !enabled {
			want = []any{nil, nil, nil, false, false}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("anomalyDetection.enabled=%v: anomaly-detection, anomaly-learning, state-dir, mounted, host path = %v, want %v", enabled, got, want)
		}
	}
}
