package main

import (
	"html/template"
	"strconv"
	"strings"
	"unicode"

	"github.com/yuin/goldmark/ast"
)

// gitHubIDs gives headings the anchors GitHub gives them (lower case;
// letters, digits, '-' and '_' kept; spaces to '-'; repeats numbered), so a
// link to a heading works on GitHub and on the site alike.
type gitHubIDs struct{ seen map[string]int }

func newGitHubIDs() *gitHubIDs { return &gitHubIDs{seen: map[string]int{}} }

func (g *gitHubIDs) Generate(value []byte, _ ast.NodeKind) []byte {
	var b strings.Builder
	for _, r := range strings.ToLower(string(value)) {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	id := b.String()
	if n, ok := g.seen[id]; ok {
		g.seen[id] = n + 1
		id += "-" + strconv.Itoa(n+1)
	} else {
		g.seen[id] = 0
	}
	return []byte(id)
}

func (g *gitHubIDs) Put(value []byte) { g.seen[string(value)] = 0 }

var layout = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · {{.Site}}</title>
<link rel="stylesheet" href="{{.Root}}style.css">
</head>
<body>
<nav>
<a class="site" href="{{.Root}}index.html">{{.Site}}</a>
{{range .Sections}}<h2>{{.Title}}</h2>
<ul>{{range .Pages}}<li{{if .Current}} class="current"{{end}}><a href="{{.Href}}">{{.Title}}</a></li>{{end}}</ul>
{{end}}</nav>
<main>
{{.Body}}
<footer><a href="{{.Source}}">Source of this page</a></footer>
</main>
</body>
</html>
`))

const style = `body { display: flex; margin: 0; font: 16px/1.5 system-ui, sans-serif; color: #1f2328; }
nav { width: 17rem; flex-shrink: 0; padding: 1rem; background: #f6f8fa; border-right: 1px solid #d0d7de; min-height: 100vh; box-sizing: border-box; }
nav .site { font-weight: 700; font-size: 1.3rem; text-decoration: none; color: inherit; }
nav h2 { font-size: .8rem; text-transform: uppercase; color: #59636e; margin: 1.2rem 0 .3rem; }
nav ul { list-style: none; margin: 0; padding: 0; }
nav li { margin: .15rem 0; font-size: .92rem; }
nav li.current a { font-weight: 700; }
main { padding: 1rem 2.5rem 3rem; max-width: 60rem; min-width: 0; }
a { color: #0969da; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; border-radius: 6px; }
code { font: .9em ui-monospace, monospace; }
table { border-collapse: collapse; margin: 1rem 0; display: block; overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; vertical-align: top; }
footer { margin-top: 3rem; font-size: .85rem; }
`
