package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"

	pb "github.com/orb8/orb8/api/orb8/v1"
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

// printer writes values as table rows (cells escaped for the terminal),
// JSON lines or YAML documents.
type printer[T any] struct {
	w      io.Writer
	format string
	header []string
	row    func(T) []string
	toJSON func(T) ([]byte, error) // one line
	toYAML func(T) ([]byte, error)
	tw     *tabwriter.Writer
	docs   int
}

// newPrinter prints API messages, with their proto JSON field names.
func newPrinter(w io.Writer, format string, header []string, row func(proto.Message) []string) *printer[proto.Message] {
	return &printer[proto.Message]{w: w, format: format, header: header, row: row, toJSON: pbjson.Marshal, toYAML: marshalYAML}
}

// print writes one value; flush ends a table.
func (p *printer[T]) print(v T) error {
	switch p.format {
	case "json":
		data, err := p.toJSON(v)
		if err != nil {
			return err
		}
		_, err = p.w.Write(append(data, '\n'))
		return err
	case "yaml":
		data, err := p.toYAML(v)
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
	_, err := fmt.Fprintln(p.tw, strings.Join(safeCells(p.row(v)), "\t"))
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

// printMessages prints API messages of workloads (after a hub's CLUSTER
// column) as table rows, JSON lines or YAML documents.
func printMessages[T proto.Message](w io.Writer, o *clientOptions, header []string, row func(proto.Message) []string, workload func(T) *pb.Workload, items []T) error {
	header, row = o.clusterColumn(header, row, func(m proto.Message) *pb.Workload { return workload(m.(T)) })
	p := newPrinter(w, o.output, header, row)
	for _, item := range items {
		if err := p.print(item); err != nil {
			return err
		}
	}
	return p.flush()
}

func (p *printer[T]) flush() error {
	if p.tw == nil {
		return nil
	}
	return p.tw.Flush()
}
