package policy

import (
	"net/netip"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	execRule := func(paths ...string) Rule { return Rule{Exec: &ExecRule{Paths: paths}, Action: ActionKill} }
	connect := func(c ConnectRule, a Action) Rule { return Rule{Connect: &c, Action: a} }
	cidr := netip.MustParsePrefix("10.0.0.0/8")
	tooMany := make([]string, MaxExecPaths+1)
	for i := range tooMany {
		tooMany[i] = "/bin/sh"
	}
	longPath := "/" + strings.Repeat("a", MaxExecPathLen)
	tests := []struct {
		name   string
		change func(p *Policy)
		want   string // "" for valid
	}{
		{"valid", func(p *Policy) {}, ""},
		{"valid namespaced", func(p *Policy) { p.Kind, p.Namespace = KindNamespaced, "shop" }, ""},
		{"valid monitor", func(p *Policy) { p.Mode = ModeMonitor }, ""},
		{"valid selector", func(p *Policy) {
			p.Selector = Selector{Namespaces: []string{"shop"}, Containers: []string{"nginx"}, Cgroups: []string{"/", "/system.slice/foo.service"},
				PodSelector: &LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "web"}, MatchExpressions: []LabelRequirement{
					{Key: "tier", Operator: OpIn, Values: []string{"a", "b"}}, {Key: "x", Operator: OpNotIn, Values: []string{""}},
					{Key: "y", Operator: OpExists}, {Key: "z", Operator: OpDoesNotExist}}}}
		}, ""},
		{"valid rules", func(p *Policy) {
			p.Rules = []Rule{
				execRule(tooMany[1:]...),
				{Exec: &ExecRule{Paths: []string{longPath[:MaxExecPathLen]}}, Action: ActionAudit},
				{Exec: &ExecRule{Paths: []string{"/bin/sh"}, ArgsContain: append([]string{strings.Repeat("x", MaxArgsContainLen), "-c"}, tooMany[:MaxArgsContain-2]...)}, Action: ActionKill},
				connect(ConnectRule{CIDRs: []netip.Prefix{cidr, netip.MustParsePrefix("::/0")}, Ports: []uint16{1, 65535}, Protocols: []string{"tcp", "udp"}}, ActionDeny),
				connect(ConnectRule{CIDRs: []netip.Prefix{cidr}}, ActionAudit),
				{DNS: &DNSRule{Names: []string{"a.b", "*.onion", "_sip._tcp.example.com", "x-1"}}, Action: ActionAudit},
			}
		}, ""},
		{"kind", func(p *Policy) { p.Kind = "Policy" }, `kind: "Policy" is not one of ClusterSecurityPolicy, SecurityPolicy`},
		{"namespace on cluster kind", func(p *Policy) { p.Namespace = "shop" }, "metadata.namespace: not allowed on a ClusterSecurityPolicy"},
		{"namespace missing", func(p *Policy) { p.Kind = KindNamespaced }, "metadata.namespace: required on a SecurityPolicy"},
		{"namespace invalid", func(p *Policy) { p.Kind, p.Namespace = KindNamespaced, "a.b" }, `metadata.namespace: "a.b": must not contain dots`},
		{"name missing", func(p *Policy) { p.Name = "" }, "metadata.name: required"},
		{"name invalid", func(p *Policy) { p.Name = "a_b" }, `metadata.name: "a_b": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`},
		{"mode", func(p *Policy) { p.Mode = "" }, `spec.mode: "" is not one of enforce, monitor`},
		{"namespaces on namespaced kind", func(p *Policy) {
			p.Kind, p.Namespace, p.Selector.Namespaces = KindNamespaced, "shop", []string{"shop"}
		}, "spec.selector.namespaces: not allowed in a SecurityPolicy (it selects pods of its own namespace only)"},
		{"selector names", func(p *Policy) {
			p.Selector = Selector{Namespaces: []string{"Shop"}, Containers: []string{"web_1"}}
		}, `spec.selector.namespaces[0]: "Shop": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')
spec.selector.containers[0]: "web_1": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`},
		{"label selector", func(p *Policy) {
			p.Selector.PodSelector = &LabelSelector{MatchLabels: map[string]string{"app": "a b"}, MatchExpressions: []LabelRequirement{
				{Key: "k", Operator: OpIn}, {Key: "k", Operator: OpExists, Values: []string{"v"}}, {Key: "k", Operator: "Has"}, {Key: "-k", Operator: OpNotIn, Values: []string{"v!"}}}}
		}, `spec.selector.podSelector.matchLabels[app]: "a b": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')
spec.selector.podSelector.matchExpressions[0].values: required for operator In
spec.selector.podSelector.matchExpressions[1].values: must be empty for operator Exists
spec.selector.podSelector.matchExpressions[2].operator: "Has" is not one of In, NotIn, Exists, DoesNotExist
spec.selector.podSelector.matchExpressions[3].key: "-k": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')
spec.selector.podSelector.matchExpressions[3].values[0]: "v!": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`},
		{"cgroups", func(p *Policy) { p.Selector.Cgroups = []string{"system.slice", "/a/", "/a//b", "/a/../b", ""} }, `spec.selector.cgroups[0]: "system.slice" is not a clean absolute path
spec.selector.cgroups[1]: "/a/" is not a clean absolute path
spec.selector.cgroups[2]: "/a//b" is not a clean absolute path
spec.selector.cgroups[3]: "/a/../b" is not a clean absolute path
spec.selector.cgroups[4]: "" is not a clean absolute path`},
		{"no rules", func(p *Policy) { p.Rules = nil }, "spec.rules: at least one rule is required"},
		{"empty rule", func(p *Policy) { p.Rules = []Rule{{Action: ActionAudit}} }, "spec.rules[0]: one of exec, connect, dns is required"},
		{"two matches", func(p *Policy) {
			p.Rules = []Rule{{Exec: &ExecRule{Paths: []string{"/bin/sh"}}, DNS: &DNSRule{Names: []string{"a"}}, Action: ActionAudit}}
		}, "spec.rules[0]: exactly one of exec, connect, dns is allowed, found exec, dns"},
		{"action missing", func(p *Policy) { p.Rules[0].Action = "" }, "spec.rules[0].action: required, one of kill, audit"},
		{"exec action", func(p *Policy) { p.Rules[0].Action = "kil" }, `spec.rules[0].action: "kil" is not one of kill, audit`},
		{"exec deny", func(p *Policy) { p.Rules[0].Action = ActionDeny }, `spec.rules[0].action: "deny" is not one of kill, audit`},
		{"connect kill", func(p *Policy) { p.Rules = []Rule{connect(ConnectRule{CIDRs: []netip.Prefix{cidr}}, ActionKill)} },
			`spec.rules[0].action: "kill" is not one of deny, audit`},
		{"dns deny", func(p *Policy) { p.Rules = []Rule{{DNS: &DNSRule{Names: []string{"a"}}, Action: ActionDeny}} },
			`spec.rules[0].action: "deny" is not one of audit`},
		{"exec paths missing", func(p *Policy) { p.Rules = []Rule{execRule()} }, "spec.rules[0].exec.paths: at least one path is required"},
		{"exec paths too many", func(p *Policy) { p.Rules = []Rule{execRule(tooMany...)} }, "spec.rules[0].exec.paths: 65 paths, at most 64 allowed"},
		{"exec paths bad", func(p *Policy) { p.Rules = []Rule{execRule("sh", "/bin/./sh", "/bin/s\x00h", longPath)} }, `spec.rules[0].exec.paths[0]: "sh" is not a clean absolute path
spec.rules[0].exec.paths[1]: "/bin/./sh" is not a clean absolute path
spec.rules[0].exec.paths[2]: "/bin/s\x00h" is not a clean absolute path
spec.rules[0].exec.paths[3]: 256 bytes, at most 255 allowed`},
		{"argsContain too many", func(p *Policy) { p.Rules[0].Exec.ArgsContain = tooMany[:MaxArgsContain+1] }, "spec.rules[0].exec.argsContain: 9 strings, at most 8 allowed"},
		{"argsContain bad", func(p *Policy) {
			p.Rules[0].Exec.ArgsContain = []string{"-c", "", strings.Repeat("x", MaxArgsContainLen+1), "a\x00b"}
		}, `spec.rules[0].exec.argsContain[1]: empty (it would match every exec)
spec.rules[0].exec.argsContain[2]: 65 bytes, at most 64 allowed
spec.rules[0].exec.argsContain[3]: "a\x00b" holds a NUL byte (arguments cannot)`},
		{"connect cidrs missing", func(p *Policy) { p.Rules = []Rule{connect(ConnectRule{}, ActionDeny)} }, "spec.rules[0].connect.cidrs: at least one CIDR is required"},
		{"connect bad", func(p *Policy) {
			p.Rules = []Rule{connect(ConnectRule{CIDRs: []netip.Prefix{{}, netip.MustParsePrefix("fd00::1/8")}, Ports: []uint16{80, 0}, Protocols: []string{"TCP", "icmp"}}, ActionDeny)}
		}, `spec.rules[0].connect.cidrs[0]: not a valid CIDR
spec.rules[0].connect.cidrs[1]: fd00::1/8 has host bits set (the network is fd00::/8)
spec.rules[0].connect.ports[1]: 0 is not a port (1-65535)
spec.rules[0].connect.protocols[0]: "TCP" is not one of tcp, udp
spec.rules[0].connect.protocols[1]: "icmp" is not one of tcp, udp`},
		{"dns names missing", func(p *Policy) { p.Rules = []Rule{{DNS: &DNSRule{}, Action: ActionAudit}} }, "spec.rules[0].dns.names: at least one name is required"},
		{"dns names bad", func(p *Policy) {
			p.Rules = []Rule{{DNS: &DNSRule{Names: []string{"A.com", "a.com.", "*", "a.*.com", "a..b", strings.Repeat("a", 64), strings.Repeat("a.", 127) + "a"}}, Action: ActionAudit}}
		}, `spec.rules[0].dns.names[0]: "A.com" is not a lower-case DNS name or *.suffix wildcard without a trailing dot
spec.rules[0].dns.names[1]: "a.com." is not a lower-case DNS name or *.suffix wildcard without a trailing dot
spec.rules[0].dns.names[2]: "*" is not a lower-case DNS name or *.suffix wildcard without a trailing dot
spec.rules[0].dns.names[3]: "a.*.com" is not a lower-case DNS name or *.suffix wildcard without a trailing dot
spec.rules[0].dns.names[4]: "a..b" is not a lower-case DNS name or *.suffix wildcard without a trailing dot
spec.rules[0].dns.names[5]: "` + strings.Repeat("a", 64) + `" is not a lower-case DNS name or *.suffix wildcard without a trailing dot
spec.rules[0].dns.names[6]: "` + strings.Repeat("a.", 127) + `a" is not a lower-case DNS name or *.suffix wildcard without a trailing dot`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Kind: KindCluster, Name: "p", Mode: ModeEnforce, Rules: []Rule{execRule("/bin/sh")}}
			tt.change(&p)
			err := Validate(p)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate accepted %#v", p)
			case err != nil && err.Error() != tt.want:
				t.Fatalf("Validate:\n got %s\nwant %s", err, tt.want)
			}
		})
	}
}
