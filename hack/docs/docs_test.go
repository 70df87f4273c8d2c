package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/orb8/orb8/hack/docs/docgen"
	"github.com/orb8/orb8/internal/agent"
)

const repoRoot = "../.."

// TestReferenceIsCurrent regenerates docs/reference from the code and fails
// on any difference: a stale page, a missing one, or one left over.
func TestReferenceIsCurrent(t *testing.T) {
	files, err := docgen.Generate(filepath.Join(repoRoot, protoFile))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(repoRoot, docgen.Dir)
	for _, p := range files.Paths() {
		have, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Errorf("%s/%s is missing: run 'make docs-gen' and commit", docgen.Dir, p)
			continue
		}
		if !bytes.Equal(have, files[p]) {
			t.Errorf("%s/%s is stale: run 'make docs-gen' and commit", docgen.Dir, p)
		}
	}
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			if files[filepath.ToSlash(rel)] == nil {
				t.Errorf("%s is no generated page: remove it or run 'make docs-gen'", path)
			}
		}
		return err
	})
}

// TestSiteBuilds builds the site as `make docs` does: at least 20 pages,
// every page in the navigation, no broken internal link or anchor, and man
// pages.
func TestSiteBuilds(t *testing.T) {
	out := t.TempDir()
	n, err := buildSite(repoRoot, out)
	if err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Errorf("%d pages, want at least 20", n)
	}
	for _, f := range []string{"index.html", "reference/cli/orb8_top.html", "man/man1/orb8.1", "man/man1/orb8-agent.1"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	html, err := os.ReadFile(filepath.Join(out, "reference", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), `href="cli/index.html"`) {
		t.Errorf("reference/index.html: links to pages are not rewritten to .html")
	}
}

// TestLinkCheckFindsBrokenLinks: the check that guards the site can fail.
func TestLinkCheckFindsBrokenLinks(t *testing.T) {
	root := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md", "# readme\n")
	write("docs/site.yaml", "title: t\nsections:\n- title: s\n  pages: [index.md, a/b.md, gone.md]\n")
	write("docs/index.md", "# Home\n\n[ok](a/b.md#a-heading) [ok too](../README.md) [bad anchor](a/b.md#nope)\n")
	write("docs/a/b.md", "# B\n\n## A heading\n\n[bad page](../missing.md) [out of the repo](../../../etc/passwd) [self](#b)\n")
	write("docs/orphan.md", "# Orphan\n")
	_, err := buildSite(root, filepath.Join(root, "site"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"docs/a/b.md has no heading #nope", `"../missing.md": no such page`, `"../../../etc/passwd": no such page`, "gone.md is not a page", "docs/orphan.md is in no section"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "README.md") || strings.Contains(err.Error(), "#b") || strings.Contains(err.Error(), "#a-heading") {
		t.Errorf("good links reported:\n%v", err)
	}
}

// metricNameRE is a metric name in prose; a trailing '_' or '*' is a family
// pattern (orb8_accelerator_*), not a name.
// A name followed by ".h" or ".c" is a file.
var metricNameRE = regexp.MustCompile(`orb8_[a-z0-9_]*[a-z0-9]\b(?:[_*]|\.[ch]\b)?`)

// TestPagesNameOnlyExportedMetrics: every metric a page names is one the
// agent registers (a histogram's _bucket, _sum and _count included), so no
// page documents a metric that does not exist. The not-yet page names what
// is missing, the design notes and benchmarks keep history, and the
// generated references come from the code.
func TestPagesNameOnlyExportedMetrics(t *testing.T) {
	metrics, err := agent.DescribedMetrics()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, m := range metrics {
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			known[m.Name+suffix] = true
		}
	}
	skip := map[string]bool{"docs/features/not-yet.md": true, "docs/design.md": true, "docs/benchmarks.md": true}
	pages, _ := filepath.Glob(filepath.Join(repoRoot, "examples", "*", "README.md"))
	pages = append(pages, filepath.Join(repoRoot, "README.md"))
	_ = filepath.WalkDir(filepath.Join(repoRoot, "docs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".md") {
			pages = append(pages, p)
		}
		return err
	})
	for _, p := range pages {
		rel, _ := filepath.Rel(repoRoot, p)
		if skip[filepath.ToSlash(rel)] || strings.HasPrefix(filepath.ToSlash(rel), "docs/reference/") {
			continue
		}
		body, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range metricNameRE.FindAllString(string(body), -1) {
			pattern := strings.HasSuffix(name, "_") || strings.HasSuffix(name, "*")
			file := strings.HasSuffix(name, ".h") || strings.HasSuffix(name, ".c")
			if !pattern && !file && !known[name] {
				t.Errorf("%s names %s, which the agent does not export", rel, name)
			}
		}
	}
}
