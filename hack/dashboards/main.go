// Command dashboards writes orb8's Grafana dashboards, built in Go with the
// Grafana Foundation SDK, as JSON files (`make generate` runs it):
//
//	go run ./hack/dashboards -out deploy/dashboards
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// generators lists every dashboard by the file it is written to.
var generators = []struct {
	file  string
	build func() *dashboard.DashboardBuilder
}{
	{"orb8-cluster-overview.json", clusterOverview},
	{"orb8-workload-detail.json", workloadDetail},
	{"orb8-network-dns.json", networkAndDNS},
	{"orb8-gpu.json", gpu},
	{"orb8-fleet.json", fleet},
}

func main() {
	out := flag.String("out", "deploy/dashboards", "directory to write the dashboard JSON files to")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "dashboards:", err)
		os.Exit(1)
	}
}

func write(dir string) error {
	files, err := render()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// render builds every dashboard and returns its JSON by file name.
func render() (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, g := range generators {
		d, err := g.build().Build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", g.file, err)
		}
		numberPanels(&d)
		data, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", g.file, err)
		}
		files[g.file] = append(data, '\n')
	}
	return files, nil
}

// numberPanels gives rows and panels the unique ids Grafana expects, in
// layout order, so the files stay the same from one run to the next.
func numberPanels(d *dashboard.Dashboard) {
	for i, p := range d.Panels {
		id := uint32(i + 1)
		switch {
		case p.Panel != nil:
			p.Panel.Id = &id
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		}
	}
}
