package apiclient

import (
	"fmt"
	"strings"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// SamplingNote says which calls a probe counts in windows, and what share
// of them it counted; "" when it counts every call.
func SamplingNote(p *pb.ProbeStatus) string {
	var parts []string
	for _, s := range p.GetSampling() {
		if s.GetRatio() < 1 {
			parts = append(parts, fmt.Sprintf("%s %.1f%%", s.GetCall(), 100*s.GetRatio()))
		}
	}
	if len(parts) == 0 && p.GetSampledProcesses() == 0 {
		return ""
	}
	note := fmt.Sprintf("sampled in %d process(es)", p.GetSampledProcesses())
	if len(parts) > 0 {
		note += ", counted " + strings.Join(parts, ", ") + " (the rest estimated)"
	}
	return note
}
