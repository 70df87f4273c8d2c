package cli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/humanize"
)

func newFlowsCmd() *cobra.Command {
	var (
		o            clientOptions
		protocol     string
		limit        uint32
		crossCluster bool
	)
	cmd := &cobra.Command{
		Use:   "flows",
		Short: "List network flows of workloads, busiest first",
		Example: `  orb8 flows
  orb8 flows -n default --protocol tcp -o json
  orb8 flows --all-nodes -l app=web
  orb8 flows --hub unix:///run/orb8/hub.sock --cross-cluster`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if protocol != "" && protocol != "tcp" && protocol != "udp" {
				return fmt.Errorf("invalid --protocol %q: want tcp or udp", protocol)
			}
			if crossCluster && o.hub == "" {
				return fmt.Errorf("--cross-cluster sums what a hub names across its members: give --hub too")
			}
			if crossCluster && !c.Flags().Changed("limit") {
				limit = 0 // every flow counts in the sums
			}
			var flows []*pb.Flow
			err := o.query(c.Context(), func(ctx context.Context, client apiclient.Client) (err error) {
				flows, err = client.Flows(ctx, &pb.ListFlowsRequest{Filter: o.filter(), Protocol: protocol, Limit: limit})
				return err
			})
			if err != nil {
				return err
			}
			if crossCluster {
				return printCrossCluster(c.OutOrStdout(), o.output, flows)
			}
			return printMessages(c.OutOrStdout(), &o, []string{"NODE", "NAMESPACE", "POD", "CGROUP", "PROTO", "DIR", "LOCAL", "REMOTE", "PEER", "TX", "RX", "RETRANS", "RTT"},
				flowRow, (*pb.Flow).GetWorkload, flows)
		},
	}
	o.bind(cmd.Flags(), defaultAgent)
	cmd.Flags().StringVar(&protocol, "protocol", "", "only tcp or udp flows")
	cmd.Flags().Uint32Var(&limit, "limit", 100, "at most this many flows (0: all; --cross-cluster sums all unless given)")
	cmd.Flags().BoolVar(&crossCluster, "cross-cluster", false, "with --hub: traffic between fleet members, summed by pair of workloads (outbound flows whose peer is another member's pod or Service)")
	return cmd
}

func flowRow(m proto.Message) []string {
	f := m.(*pb.Flow)
	w := f.GetWorkload()
	rtt := "-"
	if f.GetRttSeconds() > 0 {
		rtt = humanize.Seconds(f.GetRttSeconds())
	}
	return []string{
		humanize.Dash(w.GetNode()), humanize.Dash(w.GetNamespace()), humanize.Dash(w.GetPod()), w.GetCgroup(), f.GetProtocol(), f.GetDirection(),
		humanize.HostPort(f.GetLocalAddr(), f.GetLocalPort()), humanize.HostPort(f.GetRemoteAddr(), f.GetRemotePort()), humanize.Dash(f.PeerName()),
		humanize.Bytes(float64(f.GetTxBytes())), humanize.Bytes(float64(f.GetRxBytes())),
		strconv.FormatUint(f.GetRetransmits(), 10), rtt,
	}
}
