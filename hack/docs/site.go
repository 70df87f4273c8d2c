package main

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"go.yaml.in/yaml/v3"

	"github.com/orb8/orb8/hack/docs/docgen"
)

const (
	// docsDir holds the site's pages; navFile orders them.
	docsDir = "docs"
	navFile = "docs/site.yaml"
	// repoURL is where links to files outside docs/ point on the site.
	repoURL = "https://github.com/orb8/orb8/blob/main/"
)

// nav is docs/site.yaml: sections of pages, by path under docs/.
type nav struct {
	Title    string `yaml:"title"`
	Sections []struct {
		Title string   `yaml:"title"`
		Pages []string `yaml:"pages"`
	} `yaml:"sections"`
}

// page is one Markdown file of the site.
type page struct {
	src   string // path under docs/, e.g. concepts/attribution.md
	title string
	doc   ast.Node
	body  []byte
	ids   map[string]bool
	links []link
}

type link struct {
	dest string
	line int
}

func (p *page) out() string { return strings.TrimSuffix(p.src, ".md") + ".html" }

// markdown is goldmark with GitHub's flavour (tables, strikethrough,
// autolinks) and GitHub's heading anchors, so links work on both.
var markdown = goldmark.New(
	goldmark.WithExtensions(extension.GFM),
	goldmark.WithParserOptions(parser.WithAutoHeadingID()),
	goldmark.WithRendererOptions(html.WithUnsafe()),
)

// buildSite renders root's docs/ into out and returns the page count; it
// fails on a page missing from the navigation, a navigation entry without a
// page, or a broken internal link or anchor.
func buildSite(root, out string) (int, error) {
	var n nav
	raw, err := os.ReadFile(filepath.Join(root, navFile))
	if err != nil {
		return 0, err
	}
	if err := yaml.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("%s: %w", navFile, err)
	}
	pages, err := readPages(filepath.Join(root, docsDir))
	if err != nil {
		return 0, err
	}
	problems := expandNav(&n, pages)
	inNav := map[string]bool{}
	for _, s := range n.Sections {
		for _, p := range s.Pages {
			inNav[p] = true
		}
	}
	for src := range pages {
		if !inNav[src] {
			problems = append(problems, fmt.Sprintf("%s: docs/%s is in no section", navFile, src))
		}
	}
	for _, src := range slices.Sorted(maps.Keys(pages)) {
		problems = append(problems, checkLinks(root, pages, pages[src])...)
	}
	if len(problems) > 0 {
		return 0, fmt.Errorf("%d problems:\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	if err := os.RemoveAll(out); err != nil {
		return 0, err
	}
	for _, p := range pages {
		if err := writePage(out, &n, pages, p); err != nil {
			return 0, err
		}
	}
	if err := os.WriteFile(filepath.Join(out, "style.css"), []byte(style), 0o644); err != nil {
		return 0, err
	}
	return len(pages), docgen.Man(filepath.Join(out, "man", "man1"))
}

// expandNav replaces each pattern entry of n (one with a '*') with the
// pages it matches that no plain entry names, and reports plain entries
// without a page.
func expandNav(n *nav, pages map[string]*page) []string {
	var problems []string
	named := map[string]bool{}
	for _, s := range n.Sections {
		for _, p := range s.Pages {
			if strings.Contains(p, "*") {
				continue
			}
			named[p] = true
			if pages[p] == nil {
				problems = append(problems, fmt.Sprintf("%s: %s is not a page under docs/", navFile, p))
			}
		}
	}
	for i, s := range n.Sections {
		var expanded []string
		for _, p := range s.Pages {
			if !strings.Contains(p, "*") {
				expanded = append(expanded, p)
				continue
			}
			for _, src := range slices.Sorted(maps.Keys(pages)) {
				if ok, _ := path.Match(p, src); ok && !named[src] {
					expanded = append(expanded, src)
				}
			}
		}
		n.Sections[i].Pages = expanded
	}
	return problems
}

// readPages parses every .md file under dir (docs/bench holds data, not pages).
func readPages(dir string) (map[string]*page, error) {
	pages := map[string]*page{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".md") {
			return err
		}
		src, _ := filepath.Rel(dir, p)
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		pg := &page{src: filepath.ToSlash(src), body: body, ids: map[string]bool{}}
		ctx := parser.NewContext(parser.WithIDs(newGitHubIDs()))
		pg.doc = markdown.Parser().Parse(text.NewReader(body), parser.WithContext(ctx))
		_ = ast.Walk(pg.doc, func(node ast.Node, entering bool) (ast.WalkStatus, error) {
			if !entering {
				return ast.WalkContinue, nil
			}
			switch node := node.(type) {
			case *ast.Heading:
				if id, ok := node.AttributeString("id"); ok {
					pg.ids[string(id.([]byte))] = true
				}
				if pg.title == "" {
					pg.title = plainText(node, body)
				}
			case *ast.Link:
				pg.links = append(pg.links, link{dest: string(node.Destination), line: lineOf(body, node)})
			}
			return ast.WalkContinue, nil
		})
		if pg.title == "" {
			return fmt.Errorf("docs/%s has no heading", pg.src)
		}
		pages[pg.src] = pg
		return nil
	})
	return pages, err
}

// plainText is the text of n's inline children, markup left out.
func plainText(n ast.Node, source []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering {
			switch c := c.(type) {
			case *ast.Text:
				b.Write(c.Segment.Value(source))
			case *ast.String:
				b.Write(c.Value)
			}
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// lineOf is the source line a link's text starts on (1 when unknown).
func lineOf(body []byte, n ast.Node) int {
	for c := n.FirstChild(); c != nil; c = c.FirstChild() {
		if t, ok := c.(*ast.Text); ok {
			return bytes.Count(body[:t.Segment.Start], []byte("\n")) + 1
		}
	}
	return 1
}

// checkLinks reports the links of p that lead nowhere: a page or anchor of
// the site, or a file of the repository that does not exist.
func checkLinks(root string, pages map[string]*page, p *page) []string {
	var problems []string
	for _, l := range p.links {
		where := fmt.Sprintf("docs/%s:%d: link %q", p.src, l.line, l.dest)
		u, err := url.Parse(l.dest)
		if err != nil {
			problems = append(problems, where+": "+err.Error())
			continue
		}
		if u.Scheme != "" || u.Host != "" {
			continue // external
		}
		target := p
		if u.Path != "" {
			resolved := path.Clean(path.Join(path.Dir(p.src), u.Path))
			if t, ok := pages[resolved]; ok {
				target = t
			} else {
				repoPath := path.Join(docsDir, resolved)
				if _, err := os.Stat(filepath.Join(root, repoPath)); err != nil || strings.HasPrefix(repoPath, "../") {
					problems = append(problems, where+": no such page or file")
				}
				continue
			}
		}
		if u.Fragment != "" && !target.ids[u.Fragment] {
			problems = append(problems, fmt.Sprintf("%s: docs/%s has no heading #%s", where, target.src, u.Fragment))
		}
	}
	return problems
}

// writePage renders p with the site's layout, links to pages made .html and
// links to other repository files made absolute.
func writePage(out string, n *nav, pages map[string]*page, p *page) error {
	_ = ast.Walk(p.doc, func(node ast.Node, entering bool) (ast.WalkStatus, error) {
		if l, ok := node.(*ast.Link); ok && entering {
			l.Destination = []byte(siteLink(pages, p, string(l.Destination)))
		}
		return ast.WalkContinue, nil
	})
	var body bytes.Buffer
	if err := markdown.Renderer().Render(&body, p.body, p.doc); err != nil {
		return err
	}
	depth := strings.Count(p.src, "/")
	rel := strings.Repeat("../", depth)
	type navPage struct {
		Title, Href string
		Current     bool
	}
	type navSection struct {
		Title string
		Pages []navPage
	}
	var sections []navSection
	for _, s := range n.Sections {
		ns := navSection{Title: s.Title}
		for _, src := range s.Pages {
			ns.Pages = append(ns.Pages, navPage{Title: pages[src].title, Href: rel + pages[src].out(), Current: src == p.src})
		}
		sections = append(sections, ns)
	}
	var html bytes.Buffer
	err := layout.Execute(&html, map[string]any{
		"Site": n.Title, "Title": p.title, "Root": rel, "Sections": sections,
		"Body":   template.HTML(body.String()), //nolint:gosec // our own docs, rendered by goldmark
		"Source": repoURL + docsDir + "/" + p.src,
	})
	if err != nil {
		return err
	}
	dst := filepath.Join(out, filepath.FromSlash(p.out()))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, html.Bytes(), 0o644)
}

// siteLink is dest as the site needs it: pages as .html, other repository
// files on the repository's web view.
func siteLink(pages map[string]*page, p *page, dest string) string {
	u, err := url.Parse(dest)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Path == "" {
		return dest
	}
	resolved := path.Clean(path.Join(path.Dir(p.src), u.Path))
	if _, ok := pages[resolved]; ok {
		u.Path = strings.TrimSuffix(u.Path, ".md") + ".html"
		return u.String()
	}
	return repoURL + strings.TrimSuffix(path.Join(docsDir, resolved), "/") + fragment(u)
}

func fragment(u *url.URL) string {
	if u.Fragment == "" {
		return ""
	}
	return "#" + u.Fragment
}
