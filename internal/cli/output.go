package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"

	"github.com/orb8/orb8/internal/humanize"
	"github.com/orb8/orb8/internal/pbjson"
)

// marshalYAML is msg as a YAML document with the JSON field names.
func marshalYAML(msg proto.Message) ([]byte, error) {
	v, err := pbjson.Value(msg)
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(v)
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
		data, err := pbjson.Marshal(msg)
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
	_, err := fmt.Fprintln(p.tw, strings.Join(safeCells(p.row(msg)), "\t"))
	return err
}

// safeCells escapes what workloads wrote (names, paths, arguments) so a
// table cannot carry terminal control sequences; JSON and YAML stay exact.
func safeCells(cells []string) []string {
	for i, c := range cells {
		cells[i] = humanize.Safe(c)
	}
	return cells
}

func (p *printer) flush() error {
	if p.tw == nil {
		return nil
	}
	return p.tw.Flush()
}
