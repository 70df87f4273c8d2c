package docgen

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/orb8/orb8/internal/cli"
)

// machineDefaults are flags whose default depends on the machine that runs
// orb8 (its hostname, $NODE_NAME); their help text says so, and the pages
// leave the generating machine's value out.
var machineDefaults = []string{"node-name"}

// commandTree is orb8's command tree as users get it, with cobra's help
// and completion commands, which cobra adds only when it executes.
func commandTree() *cobra.Command {
	root := cli.NewRoot()
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		for _, name := range machineDefaults {
			if f := c.Flags().Lookup(name); f != nil {
				f.DefValue = ""
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return root
}

// CLI writes one Markdown page per command under cli/, and cli/index.md.
func CLI(out Files) error {
	root := commandTree()
	var index bytes.Buffer
	index.WriteString(generatedNote("the cobra command tree (internal/cli)"))
	index.WriteString("# CLI reference\n\nEvery command of `orb8`, with its flags. The same pages ship as man pages\n(`man orb8`, from `make docs` and `make release`).\n\n| command | what |\n|---|---|\n")
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		if !c.IsAvailableCommand() && c != root {
			return nil
		}
		var b bytes.Buffer
		if err := doc.GenMarkdownCustom(c, &b, func(s string) string { return s }); err != nil {
			return err
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "_") + ".md"
		out["cli/"+name] = append([]byte(generatedNote("the cobra command tree (internal/cli)")), b.Bytes()...)
		index.WriteString("| [`" + c.CommandPath() + "`](" + name + ") | " + c.Short + " |\n")
		for _, sub := range c.Commands() {
			if err := walk(sub); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return err
	}
	out["cli/index.md"] = index.Bytes()
	return nil
}

// Man writes section 1 man pages of every command into dir.
func Man(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	header := &doc.GenManHeader{Title: "ORB8", Section: "1", Source: "orb8", Manual: "orb8 manual"}
	return doc.GenManTree(commandTree(), header, filepath.Clean(dir))
}
