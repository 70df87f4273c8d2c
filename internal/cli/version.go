package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/orb8/orb8/internal/version"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print orb8's version",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(c.OutOrStdout(), version.String())
			return err
		},
	}
}
