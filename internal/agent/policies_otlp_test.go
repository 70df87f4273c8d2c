package agent

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

// TestPolicyMatchesReachOTLP: with an OTLP endpoint and no --audit-log,
// every match of a policy is one OTLP log record, over gRPC and OTLP/HTTP:
// the enforcing policy's killed touch and denied connect are two records,
// WARN, carrying the policy, workload, process and target as attributes
// and the audit record as body, with the node's resource.
func TestPolicyMatchesReachOTLP(t *testing.T) {
	testutil.RequireRoot(t)
	for _, protocol := range []string{"grpc", "http"} {
		t.Run(protocol, func(t *testing.T) {
			enforced, canary := testutil.NewCgroup(t), testutil.NewCgroup(t)
			addr := testutil.AcceptAll(t)
			dir := t.TempDir()
			yaml := noTouchPolicy(enforced, addr, true) + "---\n" + canaryPolicy(canary)
			if err := os.WriteFile(filepath.Join(dir, "policies.yaml"), []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			var rcv testutil.OTLPReceiver
			url, _ := testutil.RunAgent(t, "--probes", "cgroup,process", "--policy-dir", dir, "--node-name", "node-otlp",
				"--otlp-endpoint", rcv.Serve(t, protocol), "--otlp-protocol", protocol, "--otlp-insecure")
			of := func(policy string) []testutil.ReceivedLog {
				var out []testutil.ReceivedLog
				for _, l := range rcv.LogRecords() {
					if l.Attrs()["orb8.policy.name"].GetStringValue() == policy {
						out = append(out, l)
					}
				}
				return out
			}
			awaitCanary(t, canary, func() bool { return len(of("canary")) > 0 })

			r := policyRun{t}
			if killed, made := r.touch(enforced); !killed || made {
				t.Errorf("touch killed %v, marker made %v; want killed, no marker", killed, made)
			}
			if got := r.connect(enforced, addr); !strings.Contains(got, "Operation not permitted") {
				t.Errorf("connect said %q, want EPERM", got)
			}
			testutil.Eventually(t, 5*time.Second, func() bool { return len(of("no-touch")) >= 2 }, "OTLP records of no-touch: %d, want 2", len(of("no-touch")))
			time.Sleep(1500 * time.Millisecond) // a batch a second: any further record would have come
			got := of("no-touch")
			if len(got) != 2 {
				t.Fatalf("%d OTLP records of no-touch, want exactly 2 (touch, connect)", len(got))
			}
			common := map[string]string{"orb8.policy.mode": "enforce", "process.linux.cgroup": enforced.Path}
			want := map[string]map[string]string{
				"exec": {"orb8.policy.action": "kill", "orb8.policy.rule": "0", "process.executable.path": "/usr/bin/touch",
					"process.executable.name": "touch", "orb8.exec.filename": "/usr/bin/touch", "thread.name": "touch"},
				"connect": {"orb8.policy.action": "deny", "orb8.policy.rule": "1", "server.address": "127.0.0.1",
					"server.port": strconv.Itoa(addr.Port), "network.transport": "tcp", "thread.name": "bash"},
			}
			for _, l := range got {
				attrs := l.Attrs()
				op := attrs["orb8.operation"].GetStringValue()
				w, ok := want[op]
				if !ok {
					t.Errorf("record of operation %q", op)
					continue
				}
				delete(want, op)
				for k, v := range common {
					w[k] = v
				}
				for k, v := range w {
					if s := anyString(attrs[k]); s != v {
						t.Errorf("%s: %s = %q, want %q", op, k, s, v)
					}
				}
				if attrs["process.pid"].GetIntValue() == 0 {
					t.Errorf("%s: no process.pid", op)
				}
				if l.GetEventName() != "orb8.policy.match" || l.GetSeverityText() != "WARN" || l.GetTimeUnixNano() == 0 {
					t.Errorf("%s: event %q, severity %q, time %d", op, l.GetEventName(), l.GetSeverityText(), l.GetTimeUnixNano())
				}
				body := testutil.OTLPAttrs(l.GetBody().GetKvlistValue().GetValues())
				if body["policy"].GetStringValue() != "no-touch" || body["node"].GetStringValue() != "node-otlp" || body["operation"].GetStringValue() != op {
					t.Errorf("%s: body %v", op, l.GetBody())
				}
				if l.Resource["k8s.node.name"].GetStringValue() != "node-otlp" || l.Resource["service.name"].GetStringValue() != "orb8" {
					t.Errorf("%s: resource %v", op, l.Resource)
				}
			}
			if got := counterBy(t, url, "orb8_audit_records_missed_total", "sink"); !reflect.DeepEqual(got, map[string]float64{"otlp": 0}) {
				t.Errorf("orb8_audit_records_missed_total by sink: %v, want otlp 0 (and no file sink)", got)
			}
		})
	}
}

// anyString is an OTLP string or integer value as a string.
func anyString(v interface {
	GetStringValue() string
	GetIntValue() int64
}) string {
	if s := v.GetStringValue(); s != "" {
		return s
	}
	return strconv.FormatInt(v.GetIntValue(), 10)
}
