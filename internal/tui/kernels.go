package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/humanize"
)

// kernelPaneLines is the height of the GPU view's kernel pane: a title
// and the most launched kernels of the node's workloads.
const kernelPaneLines = 8

// kernelLine is one kernel of one workload.
type kernelLine struct {
	workload, kernel, runtime string
	launches                  float64
}

// topKernels lists the most launched kernels over the workloads (each
// workload's top kernels, as the API lists them), most first.
func topKernels(list []*pb.WorkloadFigures) []kernelLine {
	var out []kernelLine
	for _, f := range list {
		for _, k := range f.GetTopKernels() {
			out = append(out, kernelLine{workloadName(f.GetWorkload()), k.GetKernel(), k.GetRuntime(), k.GetLaunches()})
		}
	}
	slices.SortFunc(out, func(a, b kernelLine) int {
		return cmp.Or(cmp.Compare(b.launches, a.launches), strings.Compare(a.workload, b.workload), strings.Compare(a.kernel, b.kernel))
	})
	return out[:min(len(out), kernelPaneLines-1)]
}

// kernelsPane renders the GPU view's kernel pane; the names are what
// workloads chose, escaped.
func (m *Model) kernelsPane() string {
	lines := make([]string, kernelPaneLines)
	lines[0] = headerStyle.Render(fit(fmt.Sprintf("%-9s %-7s %-30s %s", "LAUNCHES", "RUNTIME", "WORKLOAD", "TOP KERNELS"), m.width))
	for i, k := range m.kernels {
		lines[i+1] = fit(fmt.Sprintf("%9s %-7s %-30s %s", humanize.Count(k.launches), humanize.Safe(k.runtime),
			truncate(humanize.Safe(k.workload), 30), humanize.Safe(k.kernel)), m.width)
	}
	return strings.Join(lines, "\n") + "\n"
}
