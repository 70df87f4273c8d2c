package audit

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
)

var at = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

// attrs is a record's attributes by key, as plain Go values.
func attrs(r otellog.Record) map[string]any {
	out := map[string]any{}
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		out[string(kv.Key)] = kv.Value.AsInterface()
		return true
	})
	return out
}

func TestLogRecordOfAnEnforcedExec(t *testing.T) {
	r := Record{Time: at, Node: "node-1", Policy: "no-shells", Rule: 0, Action: "kill", Mode: "enforce", Operation: "exec",
		Workload: Workload{Namespace: "shop", Pod: "web-1", Container: "nginx", Cgroup: "/kubepods/pod1/c1"},
		Process: Process{PID: 4121, PPID: 4088, UID: 33, Comm: "sh", Filename: "/bin/sh", Path: "/usr/bin/dash",
			Args: []string{"sh", "-c", "id"}, ArgsTruncated: true}}
	lr := r.LogRecord()
	if lr.EventName() != "orb8.policy.match" || !lr.Timestamp().Equal(at) || lr.ObservedTimestamp().IsZero() {
		t.Errorf("event %q at %v (observed %v)", lr.EventName(), lr.Timestamp(), lr.ObservedTimestamp())
	}
	if lr.Severity() != otellog.SeverityWarn || lr.SeverityText() != "WARN" {
		t.Errorf("severity %v %q, want WARN for an enforced kill", lr.Severity(), lr.SeverityText())
	}
	want := map[string]any{
		"orb8.policy.name": "no-shells", "orb8.policy.rule": int64(0), "orb8.policy.action": "kill", "orb8.policy.mode": "enforce",
		"orb8.operation": "exec", "k8s.namespace.name": "shop", "k8s.pod.name": "web-1", "k8s.container.name": "nginx",
		"process.linux.cgroup": "/kubepods/pod1/c1", "process.pid": int64(4121), "process.parent_pid": int64(4088),
		"process.user.id": int64(33), "thread.name": "sh", "orb8.exec.filename": "/bin/sh",
		"process.executable.path": "/usr/bin/dash", "process.executable.name": "dash",
		"process.command_args": []string{"sh", "-c", "id"}, "orb8.process.args_truncated": true,
	}
	if got := attrs(lr); !reflect.DeepEqual(got, want) {
		t.Errorf("attributes\n got %v\nwant %v", got, want)
	}
}

// TestLogRecordOfMonitoredAndAuditedMatches: a connect and a lookup carry
// OpenTelemetry's server, network and DNS attributes; outside Kubernetes
// no k8s.* attribute is set; only an enforced kill or deny is a WARN.
func TestLogRecordOfMonitoredAndAuditedMatches(t *testing.T) {
	connect := Record{Time: at, Policy: "no-imds", Rule: 1, Action: "deny", Mode: "monitor", Operation: "connect",
		Workload: Workload{Cgroup: "/system.slice/foo.service"}, Process: Process{PID: 7, PPID: 1, Comm: "curl"},
		Target: &Target{Address: "169.254.169.254", Port: 80, Protocol: "tcp"}}
	lr := connect.LogRecord()
	if lr.Severity() != otellog.SeverityInfo || lr.SeverityText() != "INFO" {
		t.Errorf("monitored deny: severity %v %q, want INFO", lr.Severity(), lr.SeverityText())
	}
	want := map[string]any{
		"orb8.policy.name": "no-imds", "orb8.policy.rule": int64(1), "orb8.policy.action": "deny", "orb8.policy.mode": "monitor",
		"orb8.operation": "connect", "process.linux.cgroup": "/system.slice/foo.service", "process.pid": int64(7),
		"process.parent_pid": int64(1), "process.user.id": int64(0), "thread.name": "curl",
		"server.address": "169.254.169.254", "server.port": int64(80), "network.transport": "tcp",
	}
	if got := attrs(lr); !reflect.DeepEqual(got, want) {
		t.Errorf("connect attributes\n got %v\nwant %v", got, want)
	}

	lookup := Record{Time: at, Policy: "no-onion", Action: "audit", Mode: "enforce", Operation: "dns", Target: &Target{Name: "x.onion"}}
	lr = lookup.LogRecord()
	if lr.Severity() != otellog.SeverityInfo {
		t.Errorf("audit rule of an enforcing policy: severity %v, want INFO", lr.Severity())
	}
	if got := attrs(lr)["dns.question.name"]; got != "x.onion" {
		t.Errorf("dns.question.name = %v", got)
	}
}

// TestLogRecordBodyIsTheAuditLine: the body holds the very fields of the
// record's JSON line, with the same values.
func TestLogRecordBodyIsTheAuditLine(t *testing.T) {
	r := Record{Time: at, Node: "node-1", Policy: "no-nc", Rule: 2, Action: "deny", Mode: "enforce", Operation: "connect",
		Workload: Workload{Namespace: "shop", Pod: "web-1", Container: "nginx", Cgroup: "/a"},
		Process:  Process{PID: 7, PPID: 1, UID: 33, Comm: "nc", Args: []string{"nc", "-z"}},
		Target:   &Target{Address: "10.0.0.1", Port: 443, Protocol: "tcp"}}
	line, _ := json.Marshal(r)
	var want any
	if err := json.Unmarshal(line, &want); err != nil {
		t.Fatal(err)
	}
	lr := r.LogRecord()
	if got := plain(lr.Body()); !reflect.DeepEqual(got, want) {
		t.Errorf("body\n got %v\nwant %v", got, want)
	}
}

// plain is v as encoding/json decodes the same value into an any.
func plain(v attribute.Value) any {
	switch v.Type() {
	case attribute.MAP:
		out := map[string]any{}
		for _, kv := range v.AsMap() {
			out[string(kv.Key)] = plain(kv.Value)
		}
		return out
	case attribute.SLICE:
		var out []any
		for _, e := range v.AsSlice() {
			out = append(out, plain(e))
		}
		return out
	case attribute.INT64:
		return float64(v.AsInt64())
	}
	return v.AsInterface()
}

// TestAnomalyRecord: an anomaly event is an audit record with the anomaly
// and no policy, and the OTLP log event orb8.anomaly, WARN, with the
// orb8.anomaly.* attributes instead of the policy's.
func TestAnomalyRecord(t *testing.T) {
	e := &events.Event{Time: at, Kind: events.KindAnomaly,
		Workload: cgroup.Workload{Path: "/kubepods/pod1/c1", Namespace: "shop", Pod: "web-1", Container: "nginx"},
		Process:  events.Process{PID: 9, PPID: 8, UID: 33, Comm: "nc"},
		Anomaly:  &events.Anomaly{Kind: "new_peer", Item: "10.0.0.7:4444", Profile: "shop/deployment/web/nginx"}}
	r := FromEvent(e, "node-1")
	if r.Operation != "connect" || r.Policy != "" || r.Anomaly == nil || *r.Anomaly != (Anomaly{Kind: "new_peer", Item: "10.0.0.7:4444", Profile: "shop/deployment/web/nginx"}) {
		t.Fatalf("record %+v", r)
	}
	lr := r.LogRecord()
	if lr.EventName() != "orb8.anomaly" || lr.Severity() != otellog.SeverityWarn {
		t.Errorf("event %q severity %v", lr.EventName(), lr.Severity())
	}
	want := map[string]any{
		"orb8.anomaly.kind": "new_peer", "orb8.anomaly.item": "10.0.0.7:4444", "orb8.anomaly.profile": "shop/deployment/web/nginx",
		"orb8.operation": "connect", "k8s.namespace.name": "shop", "k8s.pod.name": "web-1", "k8s.container.name": "nginx",
		"process.linux.cgroup": "/kubepods/pod1/c1", "process.pid": int64(9), "process.parent_pid": int64(8),
		"process.user.id": int64(33), "thread.name": "nc",
	}
	if got := attrs(lr); !reflect.DeepEqual(got, want) {
		t.Errorf("attributes\n got %v\nwant %v", got, want)
	}
}

// TestRateAnomalyRecord: a rate anomaly's record carries the feature as
// item, its value, baseline and threshold, and the operation of the
// feature; as OTLP, orb8.anomaly.value, .baseline and .threshold too.
func TestRateAnomalyRecord(t *testing.T) {
	e := &events.Event{Time: at, Kind: events.KindAnomaly, Workload: cgroup.Workload{Path: "/batch"},
		Anomaly: &events.Anomaly{Kind: "rate", Item: "dns_name_length", Profile: "/batch", Value: 71.5, Baseline: 16.25, Threshold: 40.25}}
	r := FromEvent(e, "node-1")
	want := Anomaly{Kind: "rate", Item: "dns_name_length", Profile: "/batch", Value: 71.5, Baseline: 16.25, Threshold: 40.25}
	if r.Operation != "dns" || *r.Anomaly != want {
		t.Fatalf("record %+v %+v", r, *r.Anomaly)
	}
	line, _ := json.Marshal(r.Anomaly)
	if string(line) != `{"kind":"rate","item":"dns_name_length","profile":"/batch","value":71.5,"baseline":16.25,"threshold":40.25}` {
		t.Fatalf("audit anomaly %s", line)
	}
	got := attrs(r.LogRecord())
	for k, v := range map[string]any{"orb8.anomaly.kind": "rate", "orb8.anomaly.item": "dns_name_length", "orb8.anomaly.value": 71.5,
		"orb8.anomaly.baseline": 16.25, "orb8.anomaly.threshold": 40.25, "orb8.operation": "dns"} {
		if got[k] != v {
			t.Errorf("attribute %s = %v, want %v", k, got[k], v)
		}
	}
}
