package cli

import (
	"context"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/humanize"
)

func newWorkloadsCmd() *cobra.Command {
	var (
		o     clientOptions
		limit uint32
	)
	cmd := &cobra.Command{
		Use:   "workloads",
		Short: "List workloads (cgroups, pods) with their current figures",
		Example: `  orb8 workloads -n default
  orb8 workloads --all-nodes -l app=web -o json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var list []*pb.WorkloadFigures
			err := o.query(c.Context(), func(ctx context.Context, client apiclient.Client) (err error) {
				list, err = client.Workloads(ctx, &pb.ListWorkloadsRequest{Filter: o.filter(), Limit: limit})
				return err
			})
			if err != nil {
				return err
			}
			return printMessages(c.OutOrStdout(), &o, []string{"NODE", "NAMESPACE", "POD", "CONTAINER", "CGROUP", "PROCS", "EXECS", "MEM", "FDS"},
				workloadRow, (*pb.WorkloadFigures).GetWorkload, list)
		},
	}
	o.bind(cmd.Flags(), defaultAgent)
	cmd.Flags().Uint32Var(&limit, "limit", 0, "at most this many workloads (0: all)")
	return cmd
}

func workloadRow(m proto.Message) []string {
	f := m.(*pb.WorkloadFigures)
	w := f.GetWorkload()
	return []string{
		humanize.Dash(w.GetNode()), humanize.Dash(w.GetNamespace()), humanize.Dash(w.GetPod()), humanize.Dash(w.GetContainer()), w.GetCgroup(),
		humanize.Optional(f.ProcessesRunning, humanize.Count), humanize.Optional(f.ExecTotal, humanize.Count),
		humanize.Optional(f.MemoryUsageBytes, humanize.Bytes), humanize.Optional(f.OpenFds, humanize.Count),
	}
}
