package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/tui"
)

func newTopCmd() *cobra.Command {
	var (
		o         clientOptions
		refresh   time.Duration
		exportDir string
		probes    []string
		promURL   string
	)
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Live terminal UI: workloads, flows, DNS, events, GPUs",
		Long: `Live terminal UI of workloads and what they do: network rate, DNS errors,
run-queue wait, memory against the limit, open fds and GPU use, with flows,
DNS, live events, GPU and HTTP requests views (with the http probe also
request rate, error ratio and p99 per workload), and with --prometheus an
Insights view (the regressions of the last day's rollouts and requests per
container from a week of history, as orb8 insights computes them). '/' filters,
Enter drills into a workload, 'l' streams its live events (execs with their
arguments, exits, policy matches), 'r' lists its slowest and failing HTTP
requests, 'e' exports the view to a file, '?' lists the keys, 'q' quits.

Without --agent, --all-nodes or --hub it runs the agent's probes in this process
(needs root): sudo orb8 top`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if refresh < 100*time.Millisecond {
				return fmt.Errorf("--refresh must be at least 100ms")
			}
			if st, err := os.Stat(exportDir); err != nil || !st.IsDir() {
				return fmt.Errorf("--export-dir %q is not a directory", exportDir)
			}
			if err := o.validateQuery(c.Context()); err != nil {
				return err
			}
			opts := tui.Options{Refresh: refresh, Timeout: o.timeout, ExportDir: exportDir, Filter: o.filter()}
			if promURL != "" {
				ins, err := newTopInsights(promURL, o.timeout, &o)
				if err != nil {
					return err
				}
				opts.Insights = ins
			}
			var (
				client apiclient.Client
				err    error
			)
			switch {
			case o.allNodes:
				opts.Source = "all nodes"
				client, err = o.connect(c.Context())
			case o.hub != "":
				opts.Source = "hub " + o.hub
				client, err = o.connect(c.Context())
			case o.agent != "":
				opts.Source = o.agent
				client, err = o.connect(c.Context())
			default:
				opts.Source = "in-process"
				var stop func()
				client, stop, err = embedded(c.Context(), probes, o.timeout)
				if stop != nil {
					defer stop()
				}
			}
			if err != nil {
				return err
			}
			defer client.Close()
			return tui.Run(client, opts)
		},
	}
	o.bind(cmd.Flags(), "")
	cmd.Flags().Lookup("agent").Usage = "HOST:PORT (or unix:PATH) of an agent's gRPC API; empty: run the probes in this process"
	cmd.Flags().DurationVar(&refresh, "refresh", time.Second, "how often figures are read")
	cmd.Flags().StringVar(&exportDir, "export-dir", ".", "directory that 'e' exports to")
	cmd.Flags().StringVar(&promURL, "prometheus", os.Getenv(prometheusEnv), "URL of the Prometheus HTTP API holding orb8's series, for the Insights view (-n, --pod and --cgroup narrow it; -l does not: Prometheus holds no pod labels) (default $"+prometheusEnv+")")
	cmd.Flags().StringSliceVar(&probes, "probes", []string{"default"}, `probes to run in-process, by name; "default" or "all"`)
	return cmd
}

// embedded starts the agent's probes in this process and serves its API on
// a private unix socket, so the UI talks to it exactly as to a remote agent.
func embedded(ctx context.Context, probes []string, timeout time.Duration) (apiclient.Client, func(), error) {
	if os.Geteuid() != 0 {
		return nil, nil, fmt.Errorf("running the probes in-process needs root: sudo orb8 top (or connect to an agent with --agent)")
	}
	cfg := agent.DefaultConfig()
	cfg.Probes = probes
	// The terminal belongs to the UI: the embedded agent logs nowhere.
	a, err := agent.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "orb8-top")
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	a.Start(ctx)
	x, err := a.ListenAPI("unix://" + filepath.Join(dir, "api.sock"))
	if err != nil {
		a.Close()
		os.RemoveAll(dir)
		return nil, nil, err
	}
	go x.Serve()
	stop := func() {
		x.Close()
		a.Close()
		os.RemoveAll(dir)
	}
	client, err := apiclient.Dial(ctx, x.Addrs()[0], apiclient.TLS{}, timeout)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return client, stop, nil
}
