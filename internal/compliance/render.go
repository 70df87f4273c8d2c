package compliance

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// Formats are the --output formats.
var Formats = []string{"markdown", "html", "json"}

// Write renders r in format.
func Write(w io.Writer, r *Report, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "markdown":
		return writeMarkdown(w, r)
	case "html":
		return page.Execute(w, newView(r))
	}
	return fmt.Errorf("output %q: want html, json or markdown", format)
}

// mdCell escapes a workload-provided string for a Markdown table cell:
// nothing in it can end the cell, open markup or a link, or break a line.
func mdCell(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", r)
		case strings.ContainsRune("\\`*_{}[]()<>#+-!|~&", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func writeMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s compliance report\n\n", r.Title)
	fmt.Fprintf(&b, "Period: %s to %s. Generated %s by orb8 from the agents of %s.\n\n",
		r.Period.From.Format(time.RFC3339), r.Period.To.Format(time.RFC3339), r.Generated.Format(time.RFC3339), mdCell(strings.Join(r.Nodes, ", ")))
	if !r.Period.Complete {
		fmt.Fprintf(&b, "**The agents hold records only since %s**: the period asked is longer than what they hold.\n\n", r.Period.HeldFrom.Format(time.RFC3339))
	}
	fmt.Fprintf(&b, "| verdict | controls |\n|---|---|\n| evidence | %d |\n| violation | %d (%d rows) |\n| not assessed | %d |\n\n",
		r.Summary.Evidence, r.Summary.Violation, r.Summary.ViolationRows, r.Summary.NotAssessed)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", mdCell(n))
	}
	b.WriteString("\n## Controls\n\n| control | title | verdict | violations | evidence rows | reason |\n|---|---|---|---|---|---|\n")
	for _, c := range r.Controls {
		fmt.Fprintf(&b, "| %s | %s | **%s** | %d | %d | %s |\n", c.ID, mdCell(c.Title), c.Verdict, c.Violations, c.EvidenceRows, mdCell(c.Reason))
	}
	for _, c := range r.Controls {
		if len(c.Rows) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n## %s %s: %s\n\n%s\n\n| finding | time | node | workload | kind | detail | why |\n|---|---|---|---|---|---|---|\n", c.ID, mdCell(c.Title), c.Verdict, mdCell(c.Basis))
		for _, row := range c.Rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", row.Finding, formatTime(row.Time), mdCell(row.Node), mdCell(workloadName(&row)), row.Kind, mdCell(row.Detail), mdCell(row.Why))
		}
		if c.RowsOmitted > 0 {
			fmt.Fprintf(&b, "\n%d more rows left out.\n", c.RowsOmitted)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

// workloadName is NAMESPACE/POD/CONTAINER, or the cgroup path outside
// Kubernetes.
func workloadName(r *Row) string {
	if r.Namespace == "" {
		return r.Cgroup
	}
	s := r.Namespace + "/" + r.Pod
	if r.Pod == "" {
		s = r.Namespace
	}
	if r.Container != "" {
		s += "/" + r.Container
	}
	return s
}

//go:embed report.html
var pageText string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"time": formatTime, "workload": workloadName, "class": func(v string) string { return strings.ReplaceAll(v, " ", "-") },
}).Parse(pageText))

// view is what the HTML page shows: the report and its charts' geometry.
type view struct {
	*Report
	Verdicts []bar
	Controls []controlBar
	Timeline []column
	// ControlsHeight is the per-control chart's height.
	ControlsHeight int
}

type bar struct {
	Label, Class string
	Count        int
	Y, Width     int
}

type controlBar struct {
	ID, Verdict                      string
	Y, ViolationWidth, EvidenceWidth int
	Violations, Evidence             int
}

type column struct {
	X, Y, Height int
	Count        int
	Label        string
}

// Chart sizes, in SVG units.
const (
	barArea    = 360 // the longest bar
	rowHeight  = 22
	timeWidth  = 720
	timeHeight = 120
	timeSlots  = 24
)

func newView(r *Report) view {
	v := view{Report: r}
	counts := []bar{{Label: "evidence", Class: "evidence", Count: r.Summary.Evidence}, {Label: "violation", Class: "violation", Count: r.Summary.Violation}, {Label: "not assessed", Class: "not-assessed", Count: r.Summary.NotAssessed}}
	for i := range counts {
		counts[i].Y = i * rowHeight
		counts[i].Width = scale(counts[i].Count, len(r.Controls), barArea)
	}
	v.Verdicts = counts
	most := 1
	for _, c := range r.Controls {
		most = max(most, c.Violations+c.EvidenceRows)
	}
	for _, c := range r.Controls {
		if c.Verdict == NotAssessed {
			continue
		}
		v.Controls = append(v.Controls, controlBar{
			ID: c.ID, Verdict: c.Verdict, Y: len(v.Controls) * rowHeight,
			ViolationWidth: scale(c.Violations, most, barArea), EvidenceWidth: scale(c.EvidenceRows, most, barArea),
			Violations: c.Violations, Evidence: c.EvidenceRows,
		})
	}
	v.ControlsHeight = len(v.Controls) * rowHeight
	v.Timeline = timeline(r)
	return v
}

// scale is n of whole as a width of at most full, at least 2 when n > 0.
func scale(n, whole, full int) int {
	if n <= 0 || whole <= 0 {
		return 0
	}
	return max(2, n*full/whole)
}

// timeline is the violation rows per slot of the period.
func timeline(r *Report) []column {
	span := r.Period.To.Sub(r.Period.From)
	if span <= 0 {
		return nil
	}
	counts := make([]int, timeSlots)
	for _, c := range r.Controls {
		for _, row := range c.Rows {
			if row.Finding != Violation || row.Time.IsZero() {
				continue
			}
			i := int(row.Time.Sub(r.Period.From) * timeSlots / span)
			counts[min(max(i, 0), timeSlots-1)]++
		}
	}
	most := 1
	for _, n := range counts {
		most = max(most, n)
	}
	cols := make([]column, timeSlots)
	w := timeWidth / timeSlots
	for i, n := range counts {
		h := scale(n, most, timeHeight)
		cols[i] = column{X: i * w, Y: timeHeight - h, Height: h, Count: n,
			Label: r.Period.From.Add(span * time.Duration(i) / timeSlots).Format("01-02 15:04")}
	}
	return cols
}
