package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/humanize"
)

func newStatusCmd() *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the agent's node, version, probes and what they dropped",
		Example: `  orb8 status
  orb8 status -o json
  orb8 status --all-nodes
  orb8 status --hub unix:///run/orb8/hub.sock   # members' agents, address index, overlaps`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var (
				statuses []*pb.Status
				hub      *pb.Status // a hub's own, without its agents'
			)
			err := o.query(c.Context(), func(ctx context.Context, client apiclient.Client) (err error) {
				if a, ok := client.(*apiclient.Agent); ok && o.hub != "" {
					hub, err = a.Status(ctx)
					statuses = hub.GetAgents()
					if hub != nil {
						hub.Agents = nil
					}
					return err
				}
				statuses, err = client.Statuses(ctx)
				return err
			})
			if err != nil {
				return err
			}
			if o.output != "table" {
				p := newPrinter(c.OutOrStdout(), o.output, nil, nil)
				if hub.GetAddressIndex() != nil {
					if err := p.print(hub); err != nil {
						return err
					}
				}
				for _, st := range statuses {
					if err := p.print(st); err != nil {
						return err
					}
				}
				return nil
			}
			index := hub.GetAddressIndex()
			if index != nil {
				if err := printAddressIndex(c.OutOrStdout(), index); err != nil {
					return err
				}
			}
			for i, st := range statuses {
				if i > 0 || index != nil {
					fmt.Fprintln(c.OutOrStdout())
				}
				if err := printStatus(c.OutOrStdout(), st); err != nil {
					return err
				}
			}
			return nil
		},
	}
	o.bind(cmd.Flags(), defaultAgent)
	return cmd
}

func printStatus(out io.Writer, st *pb.Status) error {
	up := "?"
	if st.GetStarted() != nil {
		up = time.Since(st.GetStarted().AsTime()).Round(time.Second).String()
	}
	if c := st.GetCluster(); c != "" {
		fmt.Fprintf(out, "cluster %s  ", humanize.Safe(c))
	}
	fmt.Fprintf(out, "node %s  orb8 %s  kernel %s  up %s\n", humanize.Safe(st.GetNode()), st.GetVersion(), humanize.Safe(st.GetKernel()), up)
	fmt.Fprintf(out, "cgroups %s at %s  workloads tracked %d (untracked: table full %d)  event streams %d (dropped %d)\n",
		st.GetCgroupHierarchy(), st.GetCgroupRoot(), st.GetTrackedWorkloads(), st.GetUntrackedWorkloads(), st.GetApiStreams(), st.GetApiEventsDropped())
	if st.GetMaxOverhead() > 0 {
		fmt.Fprintf(out, "overhead %.2f%% of the node's CPU (budget %.2f%%)\n", 100*st.GetOverheadRatio(), 100*st.GetMaxOverhead())
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROBE\tUP\tEVENTS\tLOST\tMAP FULL\tNOTE")
	for _, p := range st.GetProbes() {
		note := p.GetError()
		if note == "" && len(p.GetDegraded()) > 0 {
			var progs []string
			for prog := range p.GetDegraded() {
				progs = append(progs, prog)
			}
			sort.Strings(progs)
			note = "degraded: " + strings.Join(progs, ", ")
		}
		if s := apiclient.SamplingNote(p); s != "" {
			note = strings.TrimPrefix(note+"; "+s, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", p.GetName(), yesNo(p.GetUp()), p.GetEventsRead(), p.GetEventsLost(), p.GetMapFull(), humanize.Safe(humanize.OneLine(note)))
	}
	return tw.Flush()
}

// printAddressIndex is a hub's index of its members' addresses, and the
// addresses that several members know (named after none of them).
func printAddressIndex(out io.Writer, x *pb.AddressIndex) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tADDRESSES\tSYNCED\tDROPPED\tNOTE")
	for _, m := range x.GetMembers() {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\n", humanize.Safe(m.GetCluster()), m.GetAddresses(), yesNo(m.GetSynced()), m.GetDropped(),
			humanize.Safe(humanize.OneLine(m.GetError())))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, o := range x.GetOverlaps() {
		fmt.Fprintf(out, "overlap: %d addresses known in clusters %s (e.g. %s); named after none\n", o.GetAddresses(),
			humanize.Safe(strings.Join(o.GetClusters(), ", ")), humanize.Safe(strings.Join(o.GetExamples(), ", ")))
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
