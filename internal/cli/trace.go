package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/eventtext"
	"github.com/orb8/orb8/internal/humanize"
)

// eventKinds are the kinds some probe publishes; "all" (or none) streams
// every kind.
var eventKinds = agent.EventKinds()

// errStop ends a stream once --count events were printed. With --all-nodes
// it comes back joined with the other agents' results, so test it with errors.Is.
var errStop = errors.New("enough events")

func newTraceCmd() *cobra.Command {
	var (
		o     clientOptions
		count int
	)
	cmd := &cobra.Command{
		Use:       "trace [kind...]",
		ValidArgs: append([]string{"all"}, eventKinds...),
		Short:     "Stream events as they happen: " + strings.Join(eventKinds, ", "),
		Long: `Stream events from the agent as they happen. Each names its workload
(namespace, pod, container, cgroup), its process (pid, comm) and its time.
With no kind, or "all", every kind is streamed. Events the agent had to drop
because this client read too slowly are reported on stderr.

Kinds: ` + strings.Join(eventKinds, ", "),
		Example: `  orb8 trace exec
  orb8 trace exec exit -n default -o json
  orb8 trace dns --all-nodes -l app=web`,
		RunE: func(c *cobra.Command, args []string) error {
			kinds, err := traceKinds(args)
			if err != nil {
				return err
			}
			if count < 0 {
				return fmt.Errorf("--count must not be negative")
			}
			client, err := o.connect(c.Context())
			if err != nil {
				return err
			}
			defer client.Close()
			ctx, cancel := context.WithCancel(c.Context())
			defer cancel()
			out := newLagWriter(c.OutOrStdout(), streamLag, cancel)
			p := newPrinter(out, o.output, nil, nil)
			printed := 0
			req := &pb.WatchEventsRequest{Kinds: kinds, Filter: o.filter()}
			err = client.Watch(ctx, req, func(msg *pb.WatchEventsResponse) error {
				if d := msg.GetDrops(); d != nil {
					if err := out.Flush(); err != nil { // the events before the notice first
						return err
					}
					fmt.Fprintf(c.ErrOrStderr(), "orb8: %d events dropped so far: this client reads too slowly\n", d.GetTotal())
					return nil
				}
				if err := printEvent(p, out, msg.GetEvent()); err != nil {
					return err
				}
				printed++
				if count > 0 && printed >= count {
					return errStop
				}
				return nil
			})
			if errors.Is(err, errStop) {
				err = nil
			}
			if ferr := out.Flush(); ferr != nil && !errors.Is(err, ferr) { // a failed write may be Watch's error too
				err = errors.Join(err, ferr)
			}
			return err
		},
	}
	o.bind(cmd.Flags(), defaultAgent)
	cmd.Flags().IntVar(&count, "count", 0, "exit after this many events (0: stream until interrupted)")
	return cmd
}

func traceKinds(args []string) ([]string, error) {
	var kinds []string
	for _, a := range args {
		for _, k := range strings.Split(a, ",") {
			switch {
			case k == "all":
				return nil, nil
			case !slices.Contains(eventKinds, k):
				return nil, fmt.Errorf("unknown event kind %q: want %s or all", k, strings.Join(eventKinds, ", "))
			}
			kinds = append(kinds, k)
		}
	}
	return kinds, nil
}

// printEvent writes an event to out; a table row is one line of its own
// (streaming), in fixed-width columns.
func printEvent(p *printer[proto.Message], out io.Writer, e *pb.Event) error {
	if p.format != "table" {
		return p.print(e)
	}
	w := e.GetWorkload()
	cells := safeCells([]string{humanize.Dash(w.GetNamespace()), humanize.Dash(w.GetPod()), humanize.Dash(w.GetContainer()), e.GetProcess().GetComm(), eventDetail(e)})
	_, err := fmt.Fprintf(out, "%s %-5s %-16s %-30s %-12s %7d %-16s %s\n",
		e.GetTime().AsTime().Local().Format("15:04:05.000"), e.GetKind(), cells[0], cells[1], cells[2], e.GetProcess().GetPid(), cells[3], cells[4])
	return err
}

// eventDetail is the kind-specific part of a table row, and the cgroup of
// a workload outside pods.
func eventDetail(e *pb.Event) string {
	detail := eventtext.Detail(e)
	if w := e.GetWorkload(); w.GetPod() == "" {
		detail += "  cgroup=" + w.GetCgroup()
	}
	return detail
}
