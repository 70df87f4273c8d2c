package cli

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"
	"k8s.io/apimachinery/pkg/labels"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/compliance"
	"github.com/orb8/orb8/internal/humanize"
)

func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Reports built from what the agents hold",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newComplianceCmd())
	return cmd
}

type complianceOptions struct {
	clientOptions
	framework    string
	since        string
	segmentLabel string
	internal     []string
}

func newComplianceCmd() *cobra.Command {
	o := &complianceOptions{}
	o.formats = compliance.Formats
	cmd := &cobra.Command{
		Use:   "compliance",
		Short: "A compliance report (PCI DSS 4.0, SOC 2): per control, evidence, violation or not assessed, with the rows behind it",
		Long: `Map a framework's controls to what the agents hold, over a period: their audit
trails of execs, TCP connections, policy matches and anomalies, and the
behaviour profiles of --anomaly-detection. Each control gets one verdict:
evidence (rows that show the control at work), violation (rows that break
it), or not assessed (orb8 cannot see it, and why). Read-only.

The period (--since) is bounded by what the agents hold: each keeps the last
8192 records of each kind in memory, from when it started. The report says
when the period asked is longer.`,
		Example: `  orb8 report compliance --framework pci-dss-4.0 --since 24h --segment-label pci=cde -o html > pci.html
  orb8 report compliance --all-nodes --framework soc2 --since 7d -o markdown
  orb8 report compliance --framework pci-dss-4.0 -o json | jq '.controls[] | select(.verdict=="violation")'`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return o.run(c) },
	}
	fs := cmd.Flags()
	o.bind(fs, defaultAgent)
	fs.StringVar(&o.framework, "framework", "pci-dss-4.0", strings.Join(compliance.Frameworks, " or "))
	fs.StringVar(&o.since, "since", "24h", "the period: from this long ago until now (e.g. 1h, 24h, 7d)")
	fs.StringVar(&o.segmentLabel, "segment-label", "", "KEY=VALUE: the label of the namespaces of the cardholder data environment (PCI DSS 1.3, 1.4; SOC 2 CC6.1)")
	fs.StringSliceVar(&o.internal, "internal-cidr", nil, "address ranges inside the cluster besides the nodes' pod CIDRs and addresses (e.g. the Service CIDR, a VPC); repeatable")
	return cmd
}

func (o *complianceOptions) run(c *cobra.Command) error {
	in := &compliance.Input{Framework: o.framework, To: time.Now()}
	if !slices.Contains(compliance.Frameworks, o.framework) {
		return fmt.Errorf("invalid --framework %q: want %s", o.framework, strings.Join(compliance.Frameworks, " or "))
	}
	length, err := model.ParseDuration(o.since)
	if err != nil || length <= 0 {
		return fmt.Errorf("invalid --since %q: want a duration such as 1h, 24h or 7d", o.since)
	}
	in.From = in.To.Add(-time.Duration(length))
	for _, s := range o.internal {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("invalid --internal-cidr %q: want an address range such as 10.96.0.0/12", s)
		}
		in.Network.Internal = append(in.Network.Internal, p.Masked())
	}
	if o.segmentLabel != "" {
		if _, err := labels.Parse(o.segmentLabel); err != nil || !strings.Contains(o.segmentLabel, "=") {
			return fmt.Errorf("invalid --segment-label %q: want KEY=VALUE, a namespace label", o.segmentLabel)
		}
	}
	err = o.query(c.Context(), func(ctx context.Context, client apiclient.Client) error {
		o.gather(ctx, client, in)
		return nil
	})
	if err != nil {
		return err
	}
	o.kubernetes(c.Context(), in)
	r, err := compliance.Build(in, time.Now())
	if err != nil {
		return err
	}
	return compliance.Write(c.OutOrStdout(), r, o.output)
}

// gather reads every agent's audit trail, one kind at a time so that a
// flood of one kind cuts none of the others, and the profiles.
func (o *complianceOptions) gather(ctx context.Context, client apiclient.Client, in *compliance.Input) {
	tc, ok := client.(apiclient.TrailClient)
	if !ok {
		in.TrailErr = errors.New("this client reaches no agent's audit trail")
	}
	for _, kind := range api.TrailKinds {
		if !ok {
			break
		}
		resp, err := tc.AuditTrail(ctx, &pb.ListAuditTrailRequest{Filter: o.filter(), Since: timestamppb.New(in.From), Kinds: []string{kind}})
		if err != nil && !apiclient.IsPartial(err) {
			in.TrailErr = fmt.Errorf("%s", humanize.OneLine(err.Error()))
			if strings.Contains(err.Error(), "without --audit-trail") {
				in.TrailErr = errors.New("the agents run without --audit-trail (chart: auditTrail.enabled)")
			}
			break
		}
		if err != nil {
			in.Notes = append(in.Notes, "some agents did not answer: "+humanize.OneLine(err.Error()))
		}
		in.Records = append(in.Records, resp.GetRecords()...)
		in.Coverage = append(in.Coverage, resp.GetCoverage()...)
		if n := resp.GetTruncated(); n > 0 {
			in.Notes = append(in.Notes, fmt.Sprintf("%d older %s records were cut from the answer", n, kind))
		}
	}
	pc, ok := client.(apiclient.ProfileClient)
	if !ok {
		in.ProfilesErr = errors.New("this client reaches no agent's profiles")
		return
	}
	profiles, err := pc.Profiles(ctx, &pb.ListProfilesRequest{Namespace: o.namespace})
	switch {
	case err == nil || apiclient.IsPartial(err):
		in.Profiles = profiles
	case strings.Contains(err.Error(), "without --anomaly-detection"):
		in.ProfilesErr = errors.New("the agents run without --anomaly-detection")
	case o.hub != "":
		in.ProfilesErr = errors.New("a hub serves no profiles: ask the agents (--agent, --all-nodes)")
	default:
		in.ProfilesErr = fmt.Errorf("%s", humanize.OneLine(err.Error()))
	}
}

// kubernetes reads the segment's namespaces and the cluster's ranges from
// the Kubernetes API, when there is one to ask.
func (o *complianceOptions) kubernetes(ctx context.Context, in *compliance.Input) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if o.segmentLabel != "" {
		seg := &compliance.Segment{Label: o.segmentLabel, Namespaces: map[string]bool{}}
		names, err := apiclient.KubeLabelledNamespaces(ctx, o.kubeconfig, o.kubeContext, o.segmentLabel)
		if err != nil {
			seg.Err = fmt.Errorf("%s", humanize.OneLine(err.Error()))
		}
		for _, n := range names {
			seg.Namespaces[n] = true
		}
		in.Segment = seg
	}
	if !o.allNodes && o.segmentLabel == "" && !o.flags.Changed("kubeconfig") {
		return
	}
	ranges, err := apiclient.KubeNodeRanges(ctx, o.kubeconfig, o.kubeContext)
	if err != nil {
		in.Notes = append(in.Notes, "the nodes' pod CIDRs and addresses could not be read ("+humanize.OneLine(err.Error())+"): private addresses count as inside the cluster")
		return
	}
	in.Network.Internal = append(in.Network.Internal, ranges...)
	in.Network.Kubernetes = true
}
