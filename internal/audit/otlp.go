package audit

import (
	"bytes"
	"encoding/json"
	"path"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/orb8/orb8/internal/policy"
)

// EventName names the OpenTelemetry log records of policy matches, and
// AnomalyEventName those of anomalies.
const (
	EventName        = "orb8.policy.match"
	AnomalyEventName = "orb8.anomaly"
)

// The attributes of a record that OpenTelemetry has no convention for.
const (
	PolicyNameKey     attribute.Key = "orb8.policy.name"
	PolicyRuleKey     attribute.Key = "orb8.policy.rule"
	PolicyActionKey   attribute.Key = "orb8.policy.action"
	PolicyModeKey     attribute.Key = "orb8.policy.mode"
	OperationKey      attribute.Key = "orb8.operation"
	ExecFilenameKey   attribute.Key = "orb8.exec.filename"
	ArgsTruncatedKey  attribute.Key = "orb8.process.args_truncated"
	AnomalyKindKey    attribute.Key = "orb8.anomaly.kind"
	AnomalyItemKey    attribute.Key = "orb8.anomaly.item"
	AnomalyProfileKey attribute.Key = "orb8.anomaly.profile"
	// A rate anomaly's value, baseline (mean) and threshold.
	AnomalyValueKey     attribute.Key = "orb8.anomaly.value"
	AnomalyBaselineKey  attribute.Key = "orb8.anomaly.baseline"
	AnomalyThresholdKey attribute.Key = "orb8.anomaly.threshold"
)

// Enforced reports whether the match was acted on (a kill or deny of an
// enforcing policy) rather than only reported.
func (r Record) Enforced() bool {
	return r.Anomaly == nil && r.Mode == string(policy.ModeEnforce) && r.Action != string(policy.ActionAudit)
}

// LogRecord is r as an OpenTelemetry log record: the event orb8.policy.match
// at r's time, severity WARN when enforced and INFO when only reported (an
// anomaly: the event orb8.anomaly, WARN), the body the audit log's JSON
// object, and attributes after OpenTelemetry's conventions (Kubernetes,
// process, server, DNS) plus orb8.* ones for the policy or anomaly. Empty
// fields are left out.
func (r Record) LogRecord() otellog.Record {
	var out otellog.Record
	out.SetEventName(EventName)
	if r.Anomaly != nil {
		out.SetEventName(AnomalyEventName)
	}
	out.SetTimestamp(r.Time)
	out.SetObservedTimestamp(time.Now())
	out.SetSeverity(otellog.SeverityInfo)
	out.SetSeverityText("INFO")
	if r.Enforced() || r.Anomaly != nil {
		out.SetSeverity(otellog.SeverityWarn)
		out.SetSeverityText("WARN")
	}
	out.SetBody(r.body())
	out.AddAttributes(r.Attributes()...)
	return out
}

// Attributes are the log record's attributes of r.
func (r Record) Attributes() []attribute.KeyValue {
	var kvs []attribute.KeyValue
	if a := r.Anomaly; a != nil {
		kvs = append(kvs, AnomalyKindKey.String(a.Kind), AnomalyItemKey.String(a.Item), AnomalyProfileKey.String(a.Profile))
		if a.Kind == "rate" {
			kvs = append(kvs, AnomalyValueKey.Float64(a.Value), AnomalyBaselineKey.Float64(a.Baseline), AnomalyThresholdKey.Float64(a.Threshold))
		}
	} else {
		kvs = append(kvs, PolicyNameKey.String(r.Policy), PolicyRuleKey.Int(r.Rule), PolicyActionKey.String(r.Action), PolicyModeKey.String(r.Mode))
	}
	kvs = append(kvs, OperationKey.String(r.Operation),
		semconv.ProcessPID(int(r.Process.PID)), semconv.ProcessParentPID(int(r.Process.PPID)), semconv.ProcessUserID(int(r.Process.UID)))
	str := func(k attribute.Key, v string) {
		if v != "" {
			kvs = append(kvs, k.String(v))
		}
	}
	str(semconv.K8SNamespaceNameKey, r.Workload.Namespace)
	str(semconv.K8SPodNameKey, r.Workload.Pod)
	str(semconv.K8SContainerNameKey, r.Workload.Container)
	str(semconv.ProcessLinuxCgroupKey, r.Workload.Cgroup)
	// comm is the kernel's name of the acting thread.
	str(semconv.ThreadNameKey, r.Process.Comm)
	str(ExecFilenameKey, r.Process.Filename)
	if r.Process.Path != "" {
		kvs = append(kvs, semconv.ProcessExecutablePath(r.Process.Path), semconv.ProcessExecutableName(path.Base(r.Process.Path)))
	}
	if len(r.Process.Args) > 0 {
		kvs = append(kvs, semconv.ProcessCommandArgs(slices.Clone(r.Process.Args)...))
	}
	if r.Process.ArgsTruncated {
		kvs = append(kvs, ArgsTruncatedKey.Bool(true))
	}
	if t := r.Target; t != nil {
		str(semconv.ServerAddressKey, t.Address)
		if t.Port != 0 {
			kvs = append(kvs, semconv.ServerPort(int(t.Port)))
		}
		str(semconv.NetworkTransportKey, t.Protocol)
		str(semconv.DNSQuestionNameKey, t.Name)
	}
	return kvs
}

// body is r's JSON object as a map value: the very fields of its line in
// the audit log.
func (r Record) body() attribute.Value {
	line, _ := json.Marshal(r) // plain fields only: it cannot fail
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var v any
	_ = dec.Decode(&v)
	return jsonValue(v)
}

// jsonValue is a decoded JSON value (numbers as json.Number) as an
// attribute value.
func jsonValue(v any) attribute.Value {
	switch v := v.(type) {
	case map[string]any:
		kvs := make([]attribute.KeyValue, 0, len(v))
		for k, e := range v {
			kvs = append(kvs, attribute.KeyValue{Key: attribute.Key(k), Value: jsonValue(e)})
		}
		return attribute.MapValue(kvs...)
	case []any:
		vals := make([]attribute.Value, len(v))
		for i, e := range v {
			vals[i] = jsonValue(e)
		}
		return attribute.SliceValue(vals...)
	case string:
		return attribute.StringValue(v)
	case bool:
		return attribute.BoolValue(v)
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return attribute.Int64Value(n)
		}
		f, _ := v.Float64()
		return attribute.Float64Value(f)
	}
	return attribute.Value{}
}
