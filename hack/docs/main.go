// Command docs writes the generated reference pages and builds the
// documentation site.
//
//	go -C hack/docs run . gen            # docs/reference from the code (make docs-gen)
//	go -C hack/docs run . site -out DIR  # docs/ as a static HTML site, man pages included (make docs)
//	go -C hack/docs run . man -out DIR   # section 1 man pages only (make release)
//
// Each takes -root, the repository (default ../.., from hack/docs). It is a
// module of its own, like the project's other tools: goldmark, the .proto
// parser and cobra's doc generator stay out of the agent's module graph.
//
// The site generator is this small program over goldmark (a CommonMark
// library from the Go module proxy) rather than Hugo or MkDocs: the pages stay
// plain Markdown that reads the same on GitHub, nothing is installed beyond
// the Go toolchain the project already needs, and the link check and the
// generated references share one code path with the tests.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/orb8/orb8/hack/docs/docgen"
)

// protoFile is the API definition the API reference is generated from.
const protoFile = "api/orb8/v1/orb8.proto"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: docs gen | docs site [-out DIR] | docs man [-out DIR]")
		os.Exit(2)
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	root := fs.String("root", "../..", "the repository's root directory")
	out := fs.String("out", "", "directory to write into (site: replaced; default: site, or man1 for man)")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch cmd {
	case "gen":
		err = writeReference(*root)
	case "site":
		if *out == "" {
			*out = filepath.Join(*root, "site")
		}
		var n int
		n, err = buildSite(*root, *out)
		if err == nil {
			fmt.Printf("docs: %d pages in %s/, no broken internal links\n", n, *out)
		}
	case "man":
		if *out == "" {
			*out = "man1"
		}
		err = docgen.Man(*out)
	default:
		err = fmt.Errorf("unknown command %q: want gen, site or man", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "docs:", err)
		os.Exit(1)
	}
}

// writeReference replaces docs/reference's generated pages under root.
func writeReference(root string) error {
	files, err := docgen.Generate(filepath.Join(root, protoFile))
	if err != nil {
		return err
	}
	dir := filepath.Join(root, docgen.Dir)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	var errs []error
	for _, p := range files.Paths() {
		path := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		errs = append(errs, os.WriteFile(path, files[p], 0o644))
	}
	return errors.Join(errs...)
}
