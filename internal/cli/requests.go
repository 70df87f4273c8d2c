package cli

import (
	"context"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/humanize"
)

func newRequestsCmd() *cobra.Command {
	var (
		o       clientOptions
		failing bool
		limit   uint32
	)
	cmd := &cobra.Command{
		Use:   "requests",
		Short: "List workloads' slowest recent HTTP requests, or their failing ones",
		Long: `List the HTTP requests the http probe kept per workload: the 8 slowest of the
last one to two minutes (slowest first), or with --failing the 8 most recent
answered 500 or more (newest first). Paths come without their query strings.`,
		Example: `  orb8 requests
  orb8 requests --failing -n shop
  orb8 requests --all-nodes -l app=web -o json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			kind := "slowest"
			if failing {
				kind = "failing"
			}
			var reqs []*pb.Request
			err := o.query(c.Context(), func(ctx context.Context, client apiclient.Client) (err error) {
				reqs, err = client.Requests(ctx, &pb.ListRequestsRequest{Filter: o.filter(), Kind: kind, Limit: limit})
				return err
			})
			if err != nil {
				return err
			}
			return printMessages(c.OutOrStdout(), &o, []string{"TIME", "NODE", "NAMESPACE", "POD", "CGROUP", "DIR", "METHOD", "PATH", "STATUS", "LATENCY", "PEER", "PROTO"},
				requestRow, (*pb.Request).GetWorkload, reqs)
		},
	}
	o.bind(cmd.Flags(), defaultAgent)
	cmd.Flags().BoolVar(&failing, "failing", false, "the most recent requests answered 500 or more, instead of the slowest")
	cmd.Flags().Uint32Var(&limit, "limit", 100, "at most this many requests (0: all)")
	return cmd
}

func requestRow(m proto.Message) []string {
	r := m.(*pb.Request)
	w := r.GetWorkload()
	path := r.GetPath()
	if r.GetPathTruncated() {
		path += "..."
	}
	return []string{
		r.GetTime().AsTime().Local().Format("15:04:05.000"),
		humanize.Dash(w.GetNode()), humanize.Dash(w.GetNamespace()), humanize.Dash(w.GetPod()), w.GetCgroup(), r.GetDirection(),
		r.GetMethod(), path, r.StatusText(), humanize.Seconds(r.GetLatencySeconds()),
		humanize.Dash(r.PeerName()), r.ProtocolName(),
	}
}
