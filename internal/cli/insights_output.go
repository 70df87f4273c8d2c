package cli

import (
	"encoding/json"
	"io"

	"go.yaml.in/yaml/v3"
)

// newValuePrinter prints Go values (insights' results) with their
// encoding/json field names, in YAML too.
func newValuePrinter[T any](w io.Writer, format string, header []string, row func(T) []string) *printer[T] {
	return &printer[T]{w: w, format: format, header: header, row: row,
		toJSON: func(v T) ([]byte, error) { return json.Marshal(v) },
		toYAML: func(v T) ([]byte, error) { return jsonToYAML(v) },
	}
}

// jsonToYAML is v as YAML with the names and shapes of its JSON encoding.
func jsonToYAML(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		return nil, err
	}
	return yaml.Marshal(generic)
}
