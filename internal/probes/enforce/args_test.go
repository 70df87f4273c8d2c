package enforce

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/testutil"
)

// touchIn runs /usr/bin/touch with argv[0] and the file names args in a
// fresh directory, in cg: which of the files exist, and its error.
func touchIn(t *testing.T, cg *testutil.Cgroup, argv0 string, args ...string) ([]string, error) {
	t.Helper()
	dir := t.TempDir()
	cmd := cg.Command(t, "/usr/bin/touch")
	cmd.Args, cmd.Dir = append([]string{argv0}, args...), dir
	err := cmd.Run()
	var made []string
	for _, a := range args {
		if _, statErr := os.Stat(filepath.Join(dir, a)); statErr == nil {
			made = append(made, a)
		}
	}
	return made, err
}

// fillers are n file names of size bytes each (with their NULs).
func fillers(n, size int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("f%0*d", size-2, i)
	}
	return out
}

// TestArgsContain: a rule with argsContain kills (or reports) an exec of
// its path only when one of argv[1] to argv[15], within the first 1 KiB of
// argv, contains one of its strings; argv[0] is not searched, nor is a
// string split across two arguments; an exec whose argv goes on past what
// is searched, with no string found, is not matched but counted. Every
// match is one event and one count, under the strongest rule.
func TestArgsContain(t *testing.T) {
	f := start(t)
	enforced, monitored := testutil.NewCgroup(t), testutil.NewCgroup(t)
	rules := func(name string, enforce bool) Policy {
		return Policy{Name: name, Enforce: enforce, Exec: []ExecRule{
			{Rule: 0, Paths: []string{"/usr/bin/touch"}, ArgsContain: []string{"forbidden"}, Kill: true},
			{Rule: 1, Paths: []string{"/usr/bin/touch", "/bin/true"}, ArgsContain: []string{"audited", "forbidden"}},
		}}
	}
	if err := f.probe.Apply(Set{Policies: []Policy{rules("no-forbidden", true), rules("watch-forbidden", false)},
		Cgroups: map[uint64][]int{enforced.ID: {0}, monitored.ID: {1}}}); err != nil {
		t.Fatal(err)
	}
	sub := f.bus.Subscribe(64, []string{events.KindPolicy}, nil)
	defer f.bus.Unsubscribe(sub)

	// 17 arguments, argv[16] the forbidden one: past the 16 searched.
	tooMany := append(fillers(15, 4), "forbidden-17")
	// Within 16 arguments but past 1 KiB: argv[0] and 5 of 210 bytes, then the string.
	tooLong := append(fillers(5, 210), "forbidden-6")
	for _, c := range []struct {
		name   string
		argv0  string
		args   []string
		killed bool
	}{
		{"in the only argument", "touch", []string{"forbidden-file"}, true},
		{"absent", "touch", []string{"allowed"}, false},
		{"in a later argument", "touch", []string{"a", "b", "x-forbidden-y"}, true},
		{"split across two arguments", "touch", []string{"x-forbid", "den-y"}, false},
		{"in argv[0] only", "forbidden", []string{"allowed"}, false},
		{"in argv[15], the last searched", "touch", append(fillers(14, 4), "forbidden-16"), true},
		{"in argv[16], past 16 arguments", "touch", tooMany, false},
		{"past 1 KiB", "touch", tooLong, false},
		{"an audit rule's string", "touch", []string{"audited"}, false},
		{"an audit and a kill rule's strings", "touch", []string{"audited", "forbidden"}, true},
	} {
		made, err := touchIn(t, enforced, c.argv0, c.args...)
		if c.killed && (!killedBySIGKILL(err) || len(made) > 0) {
			t.Errorf("%s: touch ended with %v, made %q; want SIGKILL and nothing made", c.name, err, made)
		}
		if !c.killed && (err != nil || len(made) != len(c.args)) {
			t.Errorf("%s: touch ended with %v, made %d of %d files; want success", c.name, err, len(made), len(c.args))
		}
	}
	// Monitor mode: reported, not killed.
	if made, err := touchIn(t, monitored, "touch", "forbidden"); err != nil || len(made) != 1 {
		t.Errorf("monitored: touch ended with %v, made %q; want success", err, made)
	}
	if err := monitored.Run(t, "/bin/true", "audited"); err != nil {
		t.Errorf("monitored: true audited: %v", err)
	}

	want := map[string]int{"no-forbidden/exec/kill/enforce": 4, "no-forbidden/exec/audit/enforce": 1,
		"watch-forbidden/exec/kill/monitor": 1, "watch-forbidden/exec/audit/monitor": 1}
	expectMatches(t, sub, want, func(m *events.PolicyMatch) {
		if len(m.Args) < 2 || !slices.ContainsFunc(m.Args[1:], func(a string) bool { return strings.Contains(a, "forbidden") || strings.Contains(a, "audited") }) {
			t.Errorf("match %+v: args %q hold neither string", m, m.Args)
		}
	})
	if v, _ := testutil.Sample(t, f.reg, "orb8_policy_matches_total", map[string]string{"cgroup": enforced.Path, "policy": "no-forbidden", "action": "kill", "mode": "enforce"}); v != 4 {
		t.Errorf("orb8_policy_matches_total{kill,enforce} = %v, want 4", v)
	}
	if v, _ := testutil.Sample(t, f.reg, "orb8_policy_args_unchecked_total", map[string]string{"cgroup": enforced.Path, "policy": "no-forbidden"}); v != 2 {
		t.Errorf("orb8_policy_args_unchecked_total = %v, want 2 (past 16 arguments, past 1 KiB)", v)
	}
}

// TestArgsContainCompiles: strings that cannot outrank a path's own rule
// are not searched for, the strongest come first, and a workload's
// policies may not pile up more strings for one path than the kernel
// searches.
func TestArgsContainCompiles(t *testing.T) {
	e := &execEntry{}
	audit := enforceVerdict{Action: enforceVerdictActionACTION_AUDIT}
	kill := enforceVerdict{Action: enforceVerdictActionACTION_BLOCK, Enforce: 1}
	monitoredKill := enforceVerdict{Action: enforceVerdictActionACTION_BLOCK}
	e.add(ExecRule{ArgsContain: []string{"b", "a"}}, audit)
	e.add(ExecRule{ArgsContain: []string{"c"}}, monitoredKill)
	e.add(ExecRule{ArgsContain: []string{"d", "a"}}, kill)
	if got := e.searched(); fmt.Sprint(got) != "[a d c b]" {
		t.Errorf("searched %q, want [a d c b]", got)
	}
	e.add(ExecRule{}, monitoredKill)
	if got := e.searched(); fmt.Sprint(got) != "[a d]" {
		t.Errorf("with a monitored kill on the path: searched %q, want [a d]", got)
	}

	f := start(t)
	cg := testutil.NewCgroup(t)
	var set Set
	for i := range MaxArgsContainPerPath/MaxArgsContain + 1 {
		set.Policies = append(set.Policies, Policy{Name: fmt.Sprintf("p%d", i), Exec: []ExecRule{
			{Paths: []string{"/bin/sh"}, ArgsContain: fillers(MaxArgsContain, 3+i)}}})
	}
	set.Cgroups = map[uint64][]int{cg.ID: {0, 1, 2, 3, 4, 5, 6, 7, 8}}
	if err := f.probe.Apply(set); err == nil || !strings.Contains(err.Error(), "72 argsContain strings for one path") {
		t.Errorf("Apply of 72 strings for one path: %v", err)
	}
	if n := countKeys[enforceNeedleKey, enforceNeedle](t, f.probe.bpf.ExecNeedles); n != 0 {
		t.Errorf("a refused set left %d strings in the kernel", n)
	}
	for _, bad := range [][]string{fillers(MaxArgsContain+1, 3), {""}, {strings.Repeat("x", MaxArgsContainLen+1)}, {"a\x00"}} {
		if err := f.probe.Apply(Set{Policies: []Policy{{Name: "p", Exec: []ExecRule{{Paths: []string{"/bin/sh"}, ArgsContain: bad}}}}}); err == nil {
			t.Errorf("Apply accepted argsContain %q", bad)
		}
	}
}
