package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSBOMListsTheAgentsModules: the SBOM of a freshly built orb8 lists
// exactly the modules whose packages `go list -deps ./cmd/orb8` says the
// agent links, at the versions go.mod selects, plus the standard library at
// the toolchain's version, and names the binary by its SHA-256.
func TestSBOMListsTheAgentsModules(t *testing.T) {
	binary := filepath.Join(t.TempDir(), "orb8")
	if out, err := exec.Command("go", "build", "-o", binary, "../../cmd/orb8").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{end}}{{end}}", "../../cmd/orb8").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	want := map[string]string{}
	for _, line := range strings.Fields(strings.ReplaceAll(string(out), " ", "@")) {
		path, version, _ := strings.Cut(line, "@")
		want[path] = version
	}
	if len(want) < 20 || want["github.com/cilium/ebpf"] == "" || want["k8s.io/client-go"] == "" {
		t.Fatalf("go list found only %d modules: %v", len(want), want)
	}
	goVersion, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		t.Fatal(err)
	}
	want["stdlib"] = strings.TrimSpace(string(goVersion))

	at := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	b, err := build(binary, "v1.2.3", at)
	if err != nil {
		t.Fatal(err)
	}
	// Through JSON, as consumers read it.
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var doc bom
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	for _, c := range doc.Components {
		if c.PURL != "pkg:golang/"+c.Name+"@"+c.Version {
			t.Errorf("component %s@%s has purl %q", c.Name, c.Version, c.PURL)
		}
		have[c.Name] = c.Version
	}
	if !maps.Equal(have, want) {
		for _, m := range slices.Sorted(maps.Keys(want)) {
			if have[m] != want[m] {
				t.Errorf("module %s: SBOM says %q, go list %q", m, have[m], want[m])
			}
		}
		for _, m := range slices.Sorted(maps.Keys(have)) {
			if _, ok := want[m]; !ok {
				t.Errorf("module %s@%s in the SBOM is not linked into orb8", m, have[m])
			}
		}
	}

	raw, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(raw)
	main := doc.Metadata.Component
	if main.Name != "github.com/orb8/orb8" || main.Version != "v1.2.3" || main.PURL != "pkg:golang/github.com/orb8/orb8@v1.2.3" ||
		len(main.Hashes) != 1 || main.Hashes[0] != (hash{"SHA-256", hex.EncodeToString(digest[:])}) {
		t.Errorf("main component %+v, want orb8 v1.2.3 with the binary's SHA-256", main)
	}
	if doc.BOMFormat != "CycloneDX" || doc.SpecVersion != "1.5" || doc.Metadata.Timestamp != "2026-12-04T00:00:00Z" ||
		!regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(doc.SerialNumber) {
		t.Errorf("document header %s %s %s %s", doc.BOMFormat, doc.SpecVersion, doc.Metadata.Timestamp, doc.SerialNumber)
	}
	if len(doc.Dependencies) != 1 || doc.Dependencies[0].Ref != main.BOMRef || len(doc.Dependencies[0].DependsOn) != len(want) {
		t.Errorf("dependencies %+v, want orb8 depending on all %d components", doc.Dependencies, len(want))
	}
}
