package hub

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`clusters:
- name: prod-eu
  kubeconfig: /etc/orb8/prod-eu.kubeconfig
- name: lab
  agents: ["lab-host-1:9809", "unix:///run/orb8/orb8.sock"]
  timeout: 2s
  tls: {ca: ca.pem, serverName: lab}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Clusters) != 2 {
		t.Fatalf("%d members, want 2", len(c.Clusters))
	}
	prod, lab := c.Clusters[0], c.Clusters[1]
	if prod.AgentNamespace != "orb8" || prod.AgentDaemonSet != "orb8" || prod.Timeout != 5*time.Second {
		t.Errorf("prod-eu defaults: %+v", prod)
	}
	if lab.Timeout != 2*time.Second || len(lab.Agents) != 2 || lab.TLS.CA != "ca.pem" || lab.TLS.ServerName != "lab" {
		t.Errorf("lab: %+v", lab)
	}
	both, err := ParseConfig([]byte("clusters:\n- name: a\n  agents: [x]\n  kubeconfig: k\n"))
	if err != nil || both.Clusters[0].Kubeconfig != "k" || len(both.Clusters[0].Agents) != 1 {
		t.Errorf("agents by address and a kubeconfig for the address index: %+v, %v", both, err)
	}
	if c, err := ParseConfig(nil); err != nil || len(c.Clusters) != 0 {
		t.Errorf("an empty file: %+v, %v; want no member, no error", c, err)
	}

	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "clusters:\n- name: a\n  agents: [x]\n  agnets: [y]\n", "agnets"},
		{"no name", "clusters:\n- agents: [x]\n", `name ""`},
		{"markup in a name", "clusters:\n- name: \"a\\e[31m\"\n  agents: [x]\n", "want lower-case"},
		{"upper case", "clusters:\n- name: Prod\n  agents: [x]\n", "want lower-case"},
		{"twice", "clusters:\n- name: a\n  agents: [x]\n- name: a\n  agents: [y]\n", "twice"},
		{"neither", "clusters:\n- name: a\n", "give kubeconfig, agents or both"},
		{"negative timeout", "clusters:\n- name: a\n  agents: [x]\n  timeout: -1s\n", "negative"},
		{"not yaml", "clusters: [", "hub config"},
		{"too big", "#" + strings.Repeat("x", maxConfigBytes), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// FuzzParseConfig: any file gives members that are named, distinct and
// reachable some way, or an error; never a panic.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("clusters:\n- name: a\n  agents: [x]\n- name: b\n  kubeconfig: k\n"))
	f.Add([]byte("clusters: [{name: a, agents: []}]"))
	f.Add([]byte("clusters:\n- name: a\n  timeout: 1h\n  agents: [\"\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, m := range c.Clusters {
			if !memberName.MatchString(m.Name) || seen[m.Name] || (m.Kubeconfig == "" && len(m.Agents) == 0) || m.Timeout <= 0 {
				t.Fatalf("accepted member %+v", m)
			}
			seen[m.Name] = true
		}
	})
}
