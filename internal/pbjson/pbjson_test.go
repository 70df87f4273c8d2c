package pbjson

import (
	"encoding/json"
	"strings"
	"testing"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// A workload outside Kubernetes keeps its empty namespace, pod and container
// in both forms.
func TestEmptyFieldsPresent(t *testing.T) {
	f := &pb.WorkloadFigures{Workload: &pb.Workload{Cgroup: "/system.slice/cron.service"}}
	line, err := Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(string(line), "\n\t") {
		t.Errorf("Marshal = %q, want one compact line", line)
	}
	var fromLine map[string]any
	if err := json.Unmarshal(line, &fromLine); err != nil {
		t.Fatal(err)
	}
	v, err := Value(f)
	if err != nil {
		t.Fatal(err)
	}
	for form, m := range map[string]any{"Marshal": fromLine, "Value": v} {
		w, _ := m.(map[string]any)["workload"].(map[string]any)
		for key, want := range map[string]string{"namespace": "", "pod": "", "container": "", "cgroup": "/system.slice/cron.service"} {
			if got, ok := w[key]; !ok || got != want {
				t.Errorf("%s: workload %s = %v (present %v), want %q: %v", form, key, got, ok, want, w)
			}
		}
	}
}
