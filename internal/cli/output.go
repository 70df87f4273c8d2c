package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"
)

// jsonOptions print every field of a workload, empty ones included, so each
// line names namespace, pod, container and cgroup even outside Kubernetes.
var jsonOptions = protojson.MarshalOptions{EmitUnpopulated: true}

// marshalJSON is one compact line of JSON for msg.
func marshalJSON(msg proto.Message) ([]byte, error) {
	raw, err := jsonOptions.Marshal(msg)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// marshalYAML is msg as a YAML document with the JSON field names.
func marshalYAML(msg proto.Message) ([]byte, error) {
	raw, err := jsonOptions.Marshal(msg)
	if err != nil {
		return nil, err
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	return yaml.Marshal(doc)
}

// printer writes messages as table rows, JSON lines or YAML documents.
type printer struct {
	w      io.Writer
	format string
	header []string
	row    func(proto.Message) []string
	tw     *tabwriter.Writer
	docs   int
}

func newPrinter(w io.Writer, format string, header []string, row func(proto.Message) []string) *printer {
	return &printer{w: w, format: format, header: header, row: row}
}

// print writes one message; flush ends a table.
func (p *printer) print(msg proto.Message) error {
	switch p.format {
	case "json":
		data, err := marshalJSON(msg)
		if err != nil {
			return err
		}
		_, err = p.w.Write(append(data, '\n'))
		return err
	case "yaml":
		data, err := marshalYAML(msg)
		if err != nil {
			return err
		}
		if p.docs > 0 {
			if _, err := io.WriteString(p.w, "---\n"); err != nil {
				return err
			}
		}
		p.docs++
		_, err = p.w.Write(data)
		return err
	}
	if p.tw == nil {
		p.tw = tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(p.tw, strings.Join(p.header, "\t"))
	}
	_, err := fmt.Fprintln(p.tw, strings.Join(p.row(msg), "\t"))
	return err
}

func (p *printer) flush() error {
	if p.tw == nil {
		return nil
	}
	return p.tw.Flush()
}
