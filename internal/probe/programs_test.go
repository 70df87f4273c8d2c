package probe

import "testing"

func TestProgramsLoss(t *testing.T) {
	p := Programs{
		Required: []string{"stamps", "counts"},
		Optional: map[string]string{"map_iter": "live flows", "retrans": "retransmits"},
		Fallback: map[string][]string{"stamps": {"wakeup", "switch"}, "map_iter": {"file_iter"}},
	}
	for name, want := range map[string]string{
		"counts":    "probe down",
		"retrans":   "runs without retransmits",
		"stamps":    "wakeup, switch take its place; if refused too: probe down",
		"wakeup":    "nothing while stamps loads; if it is refused too: probe down",
		"map_iter":  "file_iter takes its place; if refused too: runs without live flows",
		"file_iter": "nothing while map_iter loads; if it is refused too: runs without live flows",
	} {
		if !p.Sorted(name) {
			t.Errorf("%s not sorted", name)
		}
		if got := p.Loss(name); got != want {
			t.Errorf("Loss(%s) = %q, want %q", name, got, want)
		}
	}
	if p.Sorted("other") {
		t.Error("an unlisted program is sorted")
	}
}
