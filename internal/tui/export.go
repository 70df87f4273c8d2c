package tui

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"

	"github.com/orb8/orb8/internal/humanize"
	"github.com/orb8/orb8/internal/pbjson"
)

// export writes what the current view shows (after the filter) to a file in
// the export directory, as JSON or YAML, and says where in the footer.
func (m *Model) export(format string) {
	m.statusAt = time.Now()
	items, err := m.viewItems()
	if err == nil {
		var path string
		path, err = writeExport(m.opts.ExportDir, viewNames[m.view], format, items)
		if err == nil {
			m.status = fmt.Sprintf("exported %d %s to %s", len(items), viewNames[m.view], path)
			return
		}
	}
	m.status = "export failed: " + humanize.OneLine(err.Error())
}

// viewItems are the current view's items as plain JSON values.
func (m *Model) viewItems() ([]any, error) {
	if m.view == insightsView {
		return insightItems(m.insights, m.visible)
	}
	var msgs []proto.Message
	if m.view == detailView {
		d := m.detail
		msgs = append(msgs, d.figures)
		for _, p := range d.processes {
			msgs = append(msgs, p)
		}
		for _, f := range d.flows {
			msgs = append(msgs, f)
		}
		for _, q := range d.dns {
			msgs = append(msgs, q)
		}
		for _, e := range d.events {
			msgs = append(msgs, e)
		}
	}
	for _, i := range m.visible {
		switch m.view {
		case workloadsView:
			msgs = append(msgs, m.rows[i].f)
		case flowsView:
			msgs = append(msgs, m.flows[i])
		case dnsView:
			msgs = append(msgs, m.dns[i])
		case eventsView:
			msgs = append(msgs, m.events[i])
		case trailView:
			msgs = append(msgs, m.trail.events[i].e)
		case gpuView:
			msgs = append(msgs, m.gpus[i])
		case requestsView:
			msgs = append(msgs, m.requests[i].r)
		}
	}
	items := make([]any, 0, len(msgs))
	for _, msg := range msgs {
		v, err := pbjson.Value(msg)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
	}
	return items, nil
}

func writeExport(dir, viewName, format string, items []any) (string, error) {
	var data []byte
	var err error
	if format == "yaml" {
		data, err = yaml.Marshal(items)
	} else {
		data, err = json.MarshalIndent(items, "", "  ")
		data = append(data, '\n')
	}
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("orb8-%s-%s.%s", strings.ToLower(viewName), time.Now().Format("20060102-150405.000"), format)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return "", err
	}
	return path, nil
}
