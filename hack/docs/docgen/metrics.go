package docgen

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/orb8/orb8/internal/agent"
)

// Metrics writes metrics.md: every metric with its labels and help.
func Metrics(out Files) error {
	metrics, err := agent.DescribedMetrics()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString(generatedNote("the descriptors the agent registers with every probe enabled"))
	b.WriteString(`# Metrics reference

Every metric the agent can export (all probes enabled), with its labels and help text,
as registered in the code. Types, units and where each figure comes from are in the
[metrics guide](../metrics.md), which ` + "`test/contract`" + ` keeps complete against this list.

` + fmt.Sprintf("%d metrics.", len(metrics)) + `

| metric | labels | help |
|---|---|---|
`)
	for _, m := range metrics {
		labels := make([]string, len(m.Labels))
		for i, l := range m.Labels {
			labels[i] = "`" + l + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", m.Name, strings.Join(labels, ", "), escapeCell(m.Help))
	}
	out["metrics.md"] = b.Bytes()
	return nil
}
