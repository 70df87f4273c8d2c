// Package cli holds orb8's commands; cmd/orb8 only calls Execute.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/orb8/orb8/internal/humanize"
)

// NewRoot builds the orb8 command tree.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "orb8",
		Short:         "eBPF observability for Kubernetes and Linux hosts, with GPU telemetry",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newAgentCmd(), newHubCmd(), newVersionCmd())
	root.AddCommand(newTraceCmd(), newFlowsCmd(), newRequestsCmd(), newStatusCmd(), newWorkloadsCmd(), newTopCmd())
	root.AddCommand(newInsightsCmd(), newAskCmd(), newProfilesCmd(), newReportCmd())
	registerCompletions(root)
	// Flag errors keep to one line and say what to fix.
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%s (see '%s --help')", err, c.CommandPath())
	})
	return root
}

// Execute runs orb8 with args and returns the process exit code.
func Execute(args []string, stdout, stderr io.Writer) int {
	return ExecuteAs("orb8", args, stdout, stderr)
}

// ExecuteAs runs orb8 invoked under name, the program's base name: as
// kubectl-orb8 it is the kubectl plugin (see plugin.go).
func ExecuteAs(name string, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := NewRoot()
	ctx, args = invokedAs(ctx, root, name, args)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "orb8: %s\n", humanize.OneLine(err.Error()))
		return 1
	}
	return 0
}
