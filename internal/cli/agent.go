package cli

import (
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/orb8/orb8/internal/agent"
)

func newAgentCmd() *cobra.Command {
	cfg := agent.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent: probes, /metrics, /healthz, /readyz",
		Long: `Run the node agent. It loads the enabled eBPF probes, attributes what they see
to cgroups (and pods), and serves Prometheus metrics on --metrics-addr.

Probes: ` + strings.Join(agent.ProbeNames(), ", "),
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := cfg.Resolve(c.Flags()); err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			log := newLogger(c, cfg.LogLevel)
			return agent.Run(c.Context(), cfg, log)
		},
	}
	cfg.BindFlags(cmd.Flags())
	return cmd
}

func newLogger(c *cobra.Command, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(c.ErrOrStderr(), &slog.HandlerOptions{Level: l}))
}
