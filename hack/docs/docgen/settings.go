package docgen

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/config"
)

// Settings writes settings.md: every agent setting, from the flag set
// `orb8 agent` binds (the same names are the keys of --config files).
func Settings(out Files) error {
	cfg := config.Default()
	fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	cfg.BindFlags(fs)
	var b bytes.Buffer
	b.WriteString(generatedNote("the agent's flag set (internal/config)"))
	b.WriteString(`# Agent settings

Every setting of ` + "`orb8 agent`" + `, as a flag and as a key of the YAML file given with
` + "`--config`" + ` (keys are the flag names; unknown keys are errors; flags given on the
command line override the file). Lists take comma-separated values on the command line
and YAML sequences in the file. In the Helm chart, set them under ` + "`extraConfig`" + `
(or the chart's own values for probes, filters and the log level). One key is not a flag:
` + "`metrics`" + `, per-family settings of [metric shaping](../operations/metric-shaping.md)
(` + "`aggregation`, `drop-labels`, `buckets`, `enabled`" + ` under each family's name).

Probe names: ` + "`" + strings.Join(agent.ProbeNames(), "`, `") + "`" + `.

| flag / key | type | default | what |
|---|---|---|---|
`)
	var rows []string
	fs.VisitAll(func(f *pflag.Flag) {
		def := f.DefValue
		for _, name := range machineDefaults {
			if f.Name == name {
				def = ""
			}
		}
		if def == "[]" {
			def = ""
		}
		if def != "" {
			def = "`" + def + "`"
		}
		rows = append(rows, fmt.Sprintf("| `--%s` | %s | %s | %s |\n", f.Name, f.Value.Type(), def, escapeCell(f.Usage)))
	})
	for _, r := range rows {
		b.WriteString(r)
	}
	out["settings.md"] = b.Bytes()
	return nil
}

// escapeCell keeps text inside one Markdown table cell.
func escapeCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
