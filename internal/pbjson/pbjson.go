// Package pbjson writes API messages as JSON and YAML the one way the CLI
// (-o json, -o yaml) and the TUI's exports share: with the proto JSON field
// names and every field, empty ones included, so a workload always names its
// namespace, pod, container and cgroup, also outside Kubernetes.
package pbjson

import (
	"bytes"
	"encoding/json"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

var options = protojson.MarshalOptions{EmitUnpopulated: true}

// Marshal is msg as one compact line of JSON, fields in proto order.
func Marshal(msg proto.Message) ([]byte, error) {
	raw, err := options.Marshal(msg)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Value is msg as a plain JSON value (maps, slices, strings, numbers), for
// YAML or for collecting several messages into one document.
func Value(msg proto.Message) (any, error) {
	raw, err := options.Marshal(msg)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return v, nil
}
