package policy

import (
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
)

// examplePolicy is testdata/example.yaml, the example of issue 19.
var examplePolicy = Policy{
	Kind: KindCluster,
	Name: "no-shells-in-web",
	Mode: ModeEnforce,
	Selector: Selector{
		Namespaces:  []string{"shop"},
		PodSelector: &LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Containers:  []string{"nginx"},
		Cgroups:     []string{"/system.slice/foo.service"},
	},
	Rules: []Rule{
		{Exec: &ExecRule{Paths: []string{"/bin/sh", "/usr/bin/nc"}}, Action: ActionKill},
		{Connect: &ConnectRule{
			CIDRs:     []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")},
			Ports:     []uint16{80},
			Protocols: []string{"tcp"},
		}, Action: ActionDeny},
		{DNS: &DNSRule{Names: []string{"*.onion"}}, Action: ActionAudit},
	},
	Source: "testdata/example.yaml",
}

func TestParseExample(t *testing.T) {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data, "testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Policy{examplePolicy}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse:\n got %#v\nwant %#v", got, want)
	}
}

const header = "apiVersion: orb8.dev/v1alpha1\nkind: ClusterSecurityPolicy\n"

// minimal is a valid cluster policy named name.
func minimal(name string) string {
	return header + "metadata: {name: " + name + "}\nspec: {rules: [{exec: {paths: [/bin/sh]}, action: audit}]}\n"
}

func auditSh(kind, name, namespace, source string) Policy {
	return Policy{Kind: kind, Name: name, Namespace: namespace, Mode: ModeEnforce, Source: source,
		Rules: []Rule{{Exec: &ExecRule{Paths: []string{"/bin/sh"}}, Action: ActionAudit}}}
}

func TestParseDocuments(t *testing.T) {
	namespaced := "apiVersion: orb8.dev/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: a, namespace: shop}\n" +
		"spec:\n  mode: monitor\n  rules: [{exec: {paths: [/bin/sh]}, action: audit}]\n"
	tests := []struct {
		name, yaml string
		want       []Policy
	}{
		{"one", minimal("a"), []Policy{auditSh(KindCluster, "a", "", "f")}},
		{"two", minimal("a") + "---\n" + minimal("b"), []Policy{auditSh(KindCluster, "a", "", "f"), auditSh(KindCluster, "b", "", "f")}},
		{"leading separator and empty documents", "---\n# nothing\n---\n" + minimal("a") + "---\n---\n", []Policy{auditSh(KindCluster, "a", "", "f")}},
		{"same name, other kind", minimal("a") + "---\n" + namespaced, []Policy{auditSh(KindCluster, "a", "", "f"),
			{Kind: KindNamespaced, Name: "a", Namespace: "shop", Mode: ModeMonitor, Source: "f",
				Rules: []Rule{{Exec: &ExecRule{Paths: []string{"/bin/sh"}}, Action: ActionAudit}}}}},
		{"empty file", "", nil},
		{"normalized", header + `metadata: {name: a}
spec:
  selector: {namespaces: [], podSelector: {matchLabels: {}, matchExpressions: [{key: k, operator: Exists, values: []}]}}
  rules:
  - dns: {names: [Example.COM., "*.Onion"]}
    action: audit
  - connect: {cidrs: ["fd00::/8"], ports: [], protocols: []}
    action: deny
`, []Policy{{Kind: KindCluster, Name: "a", Mode: ModeEnforce, Source: "f",
			Selector: Selector{PodSelector: &LabelSelector{MatchExpressions: []LabelRequirement{{Key: "k", Operator: OpExists}}}},
			Rules: []Rule{
				{DNS: &DNSRule{Names: []string{"example.com", "*.onion"}}, Action: ActionAudit},
				{Connect: &ConnectRule{CIDRs: []netip.Prefix{netip.MustParsePrefix("fd00::/8")}}, Action: ActionDeny},
			}}}},
		{"kubernetes object with status", header + `metadata:
  name: a
  uid: 0b6f1c2e-0000-4000-8000-000000000000
  resourceVersion: "12"
  labels: {team: x}
spec: {rules: [{exec: {paths: [/bin/sh]}, action: audit}]}
status: {conditions: [{type: Loaded, status: "True"}]}
`, []Policy{auditSh(KindCluster, "a", "", "f")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.yaml), "f")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse:\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// TestParseErrors covers what Parse refuses before or besides Validate;
// validate_test.go covers the rest.
func TestParseErrors(t *testing.T) {
	rules := "spec: {rules: [{exec: {paths: [/bin/sh]}, action: audit}]}\n"
	tests := []struct{ name, yaml, want string }{
		{"bad yaml", "a: [", "doc 1: yaml: line 1: did not find expected node content"},
		{"duplicate key", header + "kind: SecurityPolicy\n", `doc 1: yaml: unmarshal errors:
doc 1:   line 3: key "kind" already set in map`},
		{"not an object", "- a\n", "doc 1: document: expected an object, got array"},
		{"unknown field", header + "metadata: {name: a}\nspec: {rules: [{exec: {pathz: [/bin/sh]}, action: kill}]}\n", `doc 1: unknown field "spec.rules[0].exec.pathz"`},
		{"unknown fields, case-sensitive", header + "metadata: {name: a, Namespace: b}\nspec: {rules: [{exec: {paths: [/bin/sh]}, Action: kill}]}\n",
			`doc 1: unknown field "metadata.Namespace"
doc 1: unknown field "spec.rules[0].Action"`},
		{"wrong type", header + "metadata: {name: a}\nspec: {rules: {exec: {}}}\n", "doc 1: spec.rules: expected a list, got object"},
		{"port not a number", header + "metadata: {name: a}\nspec: {rules: [{connect: {cidrs: [10.0.0.0/8], ports: [http]}, action: deny}]}\n",
			"doc 1: spec.rules.connect.ports: expected an integer, got string"},
		{"api version", "apiVersion: v1\nkind: ClusterSecurityPolicy\nmetadata: {name: a}\n" + rules, `doc 1: apiVersion: "v1" is not orb8.dev/v1alpha1`},
		{"no api version", "kind: ClusterSecurityPolicy\nmetadata: {name: a}\n" + rules, `doc 1: apiVersion: "" is not orb8.dev/v1alpha1`},
		{"kind", "apiVersion: orb8.dev/v1alpha1\nkind: TracingPolicy\nmetadata: {name: a}\n" + rules,
			`doc 1: kind: "TracingPolicy" is not one of ClusterSecurityPolicy, SecurityPolicy`},
		{"bad cidr and port", header + "metadata: {name: a}\nspec: {rules: [{connect: {cidrs: [10.0.0.0/8, 10.1.2.3, 10.0.0.1/8], ports: [0, 70000, 443]}, action: deny}]}\n",
			`doc 1: spec.rules[0].connect.cidrs[1]: "10.1.2.3" is not a CIDR like 10.0.0.0/8 or fd00::/8
doc 1: spec.rules[0].connect.ports[0]: 0 is not a port (1-65535)
doc 1: spec.rules[0].connect.ports[1]: 70000 is not a port (1-65535)
doc 1: spec.rules[0].connect.cidrs[2]: 10.0.0.1/8 has host bits set (the network is 10.0.0.0/8)`},
		{"second document", minimal("a") + "---\n" + header + "metadata: {name: b}\nspec: {rules: [{exec: {paths: [/bin/sh]}, action: kil}]}\n",
			`doc 2: spec.rules[0].action: "kil" is not one of kill, audit`},
		{"duplicate name", minimal("a") + "---\n" + minimal("b") + "---\n" + minimal("a"),
			"doc 3: metadata.name: ClusterSecurityPolicy a is already defined in doc 1"},
		{"several documents bad", header + "metadata: {name: A}\n" + rules + "---\n" + header + "metadata: {name: b}\nspec: {mode: Enforce, rules: []}\n",
			`doc 1: metadata.name: "A": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')
doc 2: spec.mode: "Enforce" is not one of enforce, monitor
doc 2: spec.rules: at least one rule is required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.yaml), "f")
			if err == nil {
				t.Fatalf("Parse accepted it: %#v", got)
			}
			if got != nil {
				t.Errorf("Parse returned policies with an error: %#v", got)
			}
			if err.Error() != tt.want {
				t.Fatalf("error:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	data, err := Marshal(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data, examplePolicy.Source)
	if err != nil {
		t.Fatalf("Parse(Marshal): %v\n%s", err, data)
	}
	if !reflect.DeepEqual(got, []Policy{examplePolicy}) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got, examplePolicy)
	}
	if !strings.Contains(string(data), "- 169.254.169.254/32\n") {
		t.Errorf("CIDR not written as text:\n%s", data)
	}
}
