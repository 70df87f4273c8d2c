package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/humanize"
)

func newProfilesCmd() *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "profiles",
		Short: "List the behaviour profiles of --anomaly-detection, show, reset or re-learn one",
		Long: `List the behaviour profiles an agent learned with --anomaly-detection: per
workload identity (NAMESPACE/KIND/OWNER/CONTAINER in Kubernetes, the cgroup
path on a host), whether it still learns, how many items of each kind it
learned (binaries, lineage, peers, DNS domains, listening ports) and how many
anomalies it raised since it was frozen.`,
		Example: `  orb8 profiles
  orb8 profiles -n shop -o json
  orb8 profiles show shop/deployment/web/nginx
  orb8 profiles relearn shop/deployment/web/nginx`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return listProfiles(c, &o, "")
		},
	}
	o.bind(cmd.Flags(), defaultAgent)
	cmd.AddCommand(newProfileShowCmd(), newProfileResetCmd("reset", false), newProfileResetCmd("relearn", true))
	return cmd
}

func newProfileShowCmd() *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "show IDENTITY",
		Short: "Show one profile: every item it learned and every anomaly it raised",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return listProfiles(c, &o, args[0])
		},
	}
	o.bind(cmd.Flags(), defaultAgent)
	return cmd
}

func newProfileResetCmd(name string, relearn bool) *cobra.Command {
	var o clientOptions
	short := "Forget a profile: it learns anew from its workload's next event"
	if relearn {
		short = "Learn a profile again for a window, keeping what it learned (its anomalies become learned)"
	}
	cmd := &cobra.Command{
		Use:   name + " IDENTITY",
		Short: short,
		Long:  short + ". Only callers of the agent's local socket may.",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var done []*pb.Profile
			err := o.query(c.Context(), func(ctx context.Context, client apiclient.Client) (err error) {
				pc, ok := client.(apiclient.ProfileClient)
				if !ok {
					return fmt.Errorf("profiles are kept by agents: ask one (--agent) or the cluster's (--all-nodes)")
				}
				done, err = pc.ResetProfile(ctx, &pb.ResetProfileRequest{Identity: args[0], Relearn: relearn})
				return err
			})
			if err != nil {
				return err
			}
			if o.output != "table" {
				p := newPrinter(c.OutOrStdout(), o.output, nil, nil)
				for _, m := range done {
					if err := p.print(m); err != nil {
						return err
					}
				}
				return nil
			}
			_, err = fmt.Fprintf(c.OutOrStdout(), "profile %s: %s\n", humanize.Safe(args[0]), map[bool]string{false: "reset", true: "learning again"}[relearn])
			return err
		},
	}
	o.bind(cmd.Flags(), defaultAgent)
	return cmd
}

// listProfiles prints the profiles (one when identity is set: its items
// in the table).
func listProfiles(c *cobra.Command, o *clientOptions, identity string) error {
	var list []*pb.Profile
	err := o.query(c.Context(), func(ctx context.Context, client apiclient.Client) (err error) {
		pc, ok := client.(apiclient.ProfileClient)
		if !ok {
			return fmt.Errorf("profiles are kept by agents: ask one (--agent) or the cluster's (--all-nodes)")
		}
		list, err = pc.Profiles(ctx, &pb.ListProfilesRequest{Identity: identity, Namespace: o.namespace})
		return err
	})
	if err != nil {
		return err
	}
	if identity != "" && o.output == "table" {
		return printProfileItems(c, list)
	}
	p := newPrinter(c.OutOrStdout(), o.output, []string{"NODE", "PROFILE", "STATE", "LEARN UNTIL", "BINARIES", "LINEAGE", "PEERS", "DOMAINS", "PORTS", "ANOMALIES"}, profileRow)
	for _, m := range list {
		if err := p.print(m); err != nil {
			return err
		}
	}
	return p.flush()
}

func profileRow(m proto.Message) []string {
	pr := m.(*pb.Profile)
	counts := map[string]int{}
	anomalies := 0
	for _, s := range pr.GetSets() {
		counts[s.GetKind()] = len(s.GetItems())
		anomalies += len(s.GetAnomalies())
	}
	state := "frozen"
	if pr.GetLearning() {
		state = "learning"
	}
	n := func(kind string) string { return strconv.Itoa(counts[kind]) }
	return []string{humanize.Dash(pr.GetNode()), pr.GetIdentity(), state, pr.GetLearnUntil().AsTime().Local().Format(time.DateTime),
		n("new_binary"), n("new_lineage"), n("new_peer"), n("new_dns_domain"), n("new_listen_port"), strconv.Itoa(anomalies)}
}

// printProfileItems is a table of one row per item of the profiles:
// learned ones, then the anomalies raised, with their time.
func printProfileItems(c *cobra.Command, list []*pb.Profile) error {
	p := &printer[[]string]{w: c.OutOrStdout(), format: "table", header: []string{"NODE", "PROFILE", "KIND", "ITEM", "STATUS"},
		row: func(cells []string) []string { return cells }}
	for _, pr := range list {
		node := humanize.Dash(pr.GetNode())
		for _, s := range pr.GetSets() {
			for _, item := range s.GetItems() {
				if err := p.print([]string{node, pr.GetIdentity(), s.GetKind(), item, "learned"}); err != nil {
					return err
				}
			}
			for _, r := range s.GetAnomalies() {
				status := "anomaly at " + r.GetTime().AsTime().Local().Format(time.DateTime)
				if err := p.print([]string{node, pr.GetIdentity(), s.GetKind(), r.GetItem(), status}); err != nil {
					return err
				}
			}
		}
	}
	return p.flush()
}
