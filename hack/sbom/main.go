// Command sbom writes a CycloneDX 1.5 JSON software bill of materials for a
// Go binary from the module graph the Go linker recorded in it (what `go
// version -m` prints): the main module, every module linked in with its
// version and go.sum hash, and the Go standard library. `make sbom` runs it
// on bin/orb8, the agent image's only program:
//
//	go run ./hack/sbom -o bin/orb8.cdx.json bin/orb8
package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

func main() {
	out := flag.String("o", "", "file to write (default: standard output)")
	version := flag.String("version", "", "the main module's version, when the binary says (devel)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: sbom [-o FILE] [-version V] BINARY")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *out, *version); err != nil {
		fmt.Fprintln(os.Stderr, "sbom:", err)
		os.Exit(1)
	}
}

func run(binary, out, version string) error {
	bom, err := build(binary, version, now())
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(bom, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if out == "" {
		_, err = os.Stdout.Write(data)
		return err
	}
	return os.WriteFile(out, data, 0o644)
}

// now is SOURCE_DATE_EPOCH when set, for reproducible documents.
func now() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(sec, 0).UTC()
		}
	}
	return time.Now().UTC()
}

// The parts of CycloneDX 1.5 (https://cyclonedx.org/docs/1.5/json/) used here.
type (
	bom struct {
		BOMFormat    string       `json:"bomFormat"`
		SpecVersion  string       `json:"specVersion"`
		SerialNumber string       `json:"serialNumber"`
		Version      int          `json:"version"`
		Metadata     metadata     `json:"metadata"`
		Components   []component  `json:"components"`
		Dependencies []dependency `json:"dependencies"`
	}
	metadata struct {
		Timestamp string    `json:"timestamp"`
		Tools     tools     `json:"tools"`
		Component component `json:"component"`
	}
	tools struct {
		Components []component `json:"components"`
	}
	component struct {
		Type       string     `json:"type"`
		BOMRef     string     `json:"bom-ref,omitempty"`
		Name       string     `json:"name"`
		Version    string     `json:"version,omitempty"`
		PURL       string     `json:"purl,omitempty"`
		Hashes     []hash     `json:"hashes,omitempty"`
		Properties []property `json:"properties,omitempty"`
	}
	hash struct {
		Alg     string `json:"alg"`
		Content string `json:"content"`
	}
	property struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	dependency struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn"`
	}
)

func build(binary, version string, at time.Time) (*bom, error) {
	f, err := os.Open(binary)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return nil, err
	}
	digest := sum.Sum(nil)
	info, err := buildinfo.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: no Go build information: %w", binary, err)
	}
	if version == "" && info.Main.Version != "(devel)" { // (devel): built from a work tree
		version = info.Main.Version
	}
	main := module(info.Main.Path, version, "")
	main.Type = "application"
	main.Hashes = []hash{{"SHA-256", hex.EncodeToString(digest)}}
	for _, s := range info.Settings {
		main.Properties = append(main.Properties, property{"go:build:" + s.Key, s.Value})
	}
	stdlib := module("stdlib", info.GoVersion, "")
	b := &bom{
		BOMFormat: "CycloneDX", SpecVersion: "1.5", Version: 1,
		// The same binary always gets the same serial number.
		SerialNumber: "urn:uuid:" + uuid(digest),
		Metadata: metadata{
			Timestamp: at.Format(time.RFC3339),
			Tools:     tools{[]component{{Type: "application", Name: "orb8 hack/sbom"}}},
			Component: main,
		},
		Components: []component{stdlib},
	}
	deps := dependency{Ref: main.BOMRef, DependsOn: []string{stdlib.BOMRef}}
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		c := module(d.Path, d.Version, d.Sum)
		b.Components = append(b.Components, c)
		deps.DependsOn = append(deps.DependsOn, c.BOMRef)
	}
	b.Dependencies = []dependency{deps}
	return b, nil
}

// module describes one Go module. sum is its go.sum hash, when known: a
// hash of the module's file tree ("h1:", golang.org/x/mod/sumdb/dirhash), not
// of one file, so it goes in a property rather than among the hashes.
func module(path, version, sum string) component {
	purl := "pkg:golang/" + path
	if version != "" {
		purl += "@" + version
	}
	c := component{Type: "library", BOMRef: purl, Name: path, Version: version, PURL: purl}
	if sum != "" {
		c.Properties = []property{{"go:module:sum", sum}}
	}
	return c
}

// uuid formats the first 16 bytes of a digest as a version 8 (custom) UUID.
func uuid(digest []byte) string {
	var u [16]byte
	copy(u[:], digest)
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
