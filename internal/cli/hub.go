package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/orb8/orb8/internal/hub"
)

func newHubCmd() *cobra.Command {
	o := hub.Options{Listen: "unix:///run/orb8/hub.sock", Reload: 2 * time.Second, SortWindow: time.Second, SortBuffer: 1000}
	var logLevel string
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Serve the agent API for a fleet: every agent of every member, labelled by member",
		Long: `Serve the agent API for every agent of every fleet member listed in --config:
clusters reached through their API server (kubeconfig) and hosts given by
address. Every record carries its member's name (cluster); an answer that
lacks a member says which. The file is read again when it changes.

  clusters:
  - name: prod-eu
    kubeconfig: /etc/orb8/prod-eu.kubeconfig
  - name: lab
    agents: ["lab-host-1:9809"]
    tls: {ca: /etc/orb8/lab-ca.pem, cert: /etc/orb8/hub.pem, key: /etc/orb8/hub-key.pem}

A member with a kubeconfig also feeds the hub's index of pod and Service
addresses (its API server's, watched): flows are named across members
(pod CLUSTER/NAMESPACE/NAME), 'orb8 flows --hub ADDR --cross-cluster' sums
the traffic between members, and addresses that several members know
(overlapping CIDRs) are named after none and shown by 'orb8 status --hub'.
A member may give agents by address and a kubeconfig for the index only.

Event streams (orb8 trace --hub) are merged in the order the events
happened: each event waits up to --sort-window for earlier ones from slower
agents, at most --sort-buffer events at once (the earliest goes on when it
is full).

Clients ask it with --hub ADDR (and --cluster NAME for one member).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return hub.Run(c.Context(), o, newLogger(c, logLevel))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Listen, "listen", o.Listen, "where to serve the API: unix:///PATH (root only), or HOST:PORT with TLS and client certificates")
	fs.StringVar(&o.Config, "config", "", "the fleet's members (YAML; read again when it changes)")
	fs.StringVar(&o.TLSCert, "tls-cert", "", "PEM certificate of a TCP --listen")
	fs.StringVar(&o.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&o.ClientCA, "tls-client-ca", "", "PEM CA bundle whose client certificates may call a TCP --listen")
	fs.DurationVar(&o.Reload, "reload-interval", o.Reload, "how often --config is checked for changes")
	fs.DurationVar(&o.SortWindow, "sort-window", o.SortWindow, "how long an event of a stream may wait for earlier ones from other agents (0: events go on as they come)")
	fs.IntVar(&o.SortBuffer, "sort-buffer", o.SortBuffer, "how many events of a stream may wait at once")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
