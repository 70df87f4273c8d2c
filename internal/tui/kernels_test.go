package tui

import (
	"strings"
	"testing"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// TestGPUTabListsTopKernels: the GPU tab shows the workloads' most
// launched kernels, most first, their names escaped.
func TestGPUTabListsTopKernels(t *testing.T) {
	train, serve := workload("ml", "train", "/train"), workload("ml", "serve", "/serve")
	train.TopKernels = []*pb.KernelLaunches{{Kernel: "demo::scale(float*, int)", Runtime: "cuda", Launches: 5}, {Kernel: "demo::shift(float*, int)", Runtime: "cuda", Launches: 3}}
	serve.TopKernels = []*pb.KernelLaunches{{Kernel: "evil\x1b[2Jkernel", Runtime: "cuda", Launches: 7}}
	m := newModel(t, &fakeClient{workloads: []*pb.WorkloadFigures{train, serve}})
	press(m, "5")
	m.Update(m.refresh()())
	view := m.View()
	evil, scale, shift := strings.Index(view, `evil\x1b[2Jkernel`), strings.Index(view, "demo::scale(float*, int)"), strings.Index(view, "demo::shift(float*, int)")
	if strings.Contains(view, "\x1b[2J") || evil < 0 || scale < evil || shift < scale {
		t.Errorf("GPU tab: want the kernels most launched first, escaped:\n%s", view)
	}
	if !strings.Contains(view, "TOP KERNELS") {
		t.Errorf("GPU tab has no kernel pane:\n%s", view)
	}
}
