package apiclient

import (
	"fmt"
	"strings"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// SamplingNote says which calls a probe counts in windows, or which records
// it sheds under load, and what share of them it counted; "" when it counts
// everything.
func SamplingNote(p *pb.ProbeStatus) string {
	var parts []string
	for _, s := range p.GetSampling() {
		if s.GetRatio() < 1 {
			parts = append(parts, fmt.Sprintf("%s %.1f%%", s.GetCall(), 100*s.GetRatio()))
		}
	}
	counted := ""
	if len(parts) > 0 {
		counted = "counted " + strings.Join(parts, ", ") + " (the rest estimated)"
	}
	if p.GetSampledProcesses() == 0 {
		return counted // a probe sampled to stay under --max-overhead, or ""
	}
	note := fmt.Sprintf("sampled in %d process(es)", p.GetSampledProcesses())
	if counted != "" {
		note += ", " + counted
	}
	return note
}
