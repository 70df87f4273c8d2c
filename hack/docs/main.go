// Command docs writes the generated reference pages and builds the
// documentation site.
//
//	go run ./hack/docs gen            # docs/reference from the code (make docs-gen)
//	go run ./hack/docs site -out site # docs/ as a static HTML site, man pages included (make docs)
//	go run ./hack/docs man -out DIR   # section 1 man pages only (make release)
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

	"github.com/orb8/orb8/internal/docgen"
)

// protoFile is the API definition the API reference is generated from.
const protoFile = "api/orb8/v1/orb8.proto"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: docs gen | docs site [-out DIR] | docs man [-out DIR]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = writeReference(".")
	case "site":
		fs := flag.NewFlagSet("site", flag.ExitOnError)
		out := fs.String("out", "site", "directory to write the site into (replaced)")
		_ = fs.Parse(os.Args[2:])
		var n int
		n, err = buildSite(".", *out)
		if err == nil {
			fmt.Printf("docs: %d pages in %s/, no broken internal links\n", n, *out)
		}
	case "man":
		fs := flag.NewFlagSet("man", flag.ExitOnError)
		out := fs.String("out", "man1", "directory to write the man pages into")
		_ = fs.Parse(os.Args[2:])
		err = docgen.Man(*out)
	default:
		err = fmt.Errorf("unknown command %q: want gen, site or man", os.Args[1])
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
