package enforce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.Helpers(m, map[string]func([]string) error{"connect": connectHelper})
}

// connectHelper dials tcp ADDR and says "connected" or the error's errno.
func connectHelper(args []string) error {
	c, err := net.DialTimeout("tcp", args[0], time.Second)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			fmt.Println(errno.Error())
			return nil
		}
		return err
	}
	c.Close()
	fmt.Println("connected")
	return nil
}

type fixture struct {
	probe *Probe
	reg   *prometheus.Registry
	bus   *events.Bus
}

func start(t testing.TB) *fixture {
	t.Helper()
	testutil.RequireRoot(t)
	res := testutil.Resolver(t)
	f := &fixture{probe: New(), reg: prometheus.NewPedanticRegistry(), bus: events.NewBus()}
	env := probe.Env{Resolver: res, Events: f.bus, Log: slog.Default(), CgroupRoot: res.Root()}
	if err := f.probe.Start(context.Background(), env); err != nil {
		t.Fatalf("start enforce probe: %v", err)
	}
	t.Cleanup(func() { f.probe.Close() })
	f.reg.MustRegister(testutil.Collector(t, f.probe))
	return f
}

// touch runs /usr/bin/touch marker in cg: its error, and whether the marker exists.
func touch(t *testing.T, cg *testutil.Cgroup) (error, bool) {
	t.Helper()
	marker := filepath.Join(t.TempDir(), "marker")
	err := cg.Command(t, "/usr/bin/touch", marker).Run()
	_, statErr := os.Stat(marker)
	return err, statErr == nil
}

func dial(t *testing.T, cg *testutil.Cgroup, addr string) string {
	t.Helper()
	out, err := cg.Helper(t, "connect", addr).Output()
	if err != nil {
		t.Fatalf("connect helper: %v", err)
	}
	return string(out)
}

// expectMatches reads from sub exactly the matches want counts (by
// policy/operation/action/mode), each passed to check, and then no more.
func expectMatches(t *testing.T, sub *events.Subscription, want map[string]int, check func(*events.PolicyMatch)) {
	t.Helper()
	n := 0
	for _, v := range want {
		n += v
	}
	got := map[string]int{}
	deadline := time.After(2 * time.Second)
	for range n {
		select {
		case e := <-sub.C:
			m := e.Policy
			got[m.Policy+"/"+m.Operation+"/"+m.Action+"/"+m.Mode]++
			check(m)
		case <-deadline:
			t.Fatalf("matches %v, want %v", got, want)
		}
	}
	select {
	case e := <-sub.C:
		t.Errorf("one match too many: %+v", e.Policy)
	case <-time.After(300 * time.Millisecond):
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("matches %v, want %v", got, want)
	}
}

func killedBySIGKILL(err error) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// TestEnforcesExecAndConnect: an enforcing policy kills the exec of a listed
// program before it runs and refuses a listed connect with EPERM, in the
// cgroup it selects only; a monitoring policy lets both happen and reports
// them; each match is one event and one count.
func TestEnforcesExecAndConnect(t *testing.T) {
	f := start(t)
	enforced, unselected, monitored := testutil.NewCgroup(t), testutil.NewCgroup(t), testutil.NewCgroup(t)
	ln := testutil.AcceptAll(t)
	port := ln.Port
	rules := func(name string, enforce bool) Policy {
		return Policy{Name: name, Enforce: enforce,
			Exec:    []ExecRule{{Rule: 0, Paths: []string{"/usr/bin/touch"}, Kill: true}},
			Connect: []ConnectRule{{Rule: 1, CIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Ports: []uint16{uint16(port)}, TCP: true, Deny: true}},
		}
	}
	sub := f.bus.Subscribe(64, []string{events.KindPolicy}, nil)
	defer f.bus.Unsubscribe(sub)
	set := Set{Policies: []Policy{rules("no-touch", true), rules("watch-touch", false)},
		Cgroups: map[uint64][]int{enforced.ID: {0}, monitored.ID: {1}}}
	if err := f.probe.Apply(set); err != nil {
		t.Fatal(err)
	}
	addr := ln.String()

	if err, made := touch(t, enforced); !killedBySIGKILL(err) || made {
		t.Errorf("enforced: touch ended with %v, marker made %v; want SIGKILL and no marker", err, made)
	}
	if got := dial(t, enforced, addr); got != "operation not permitted\n" {
		t.Errorf("enforced: connect said %q, want EPERM", got)
	}
	for _, cg := range []*testutil.Cgroup{unselected, monitored} {
		if err, made := touch(t, cg); err != nil || !made {
			t.Errorf("%s: touch ended with %v, marker made %v; want success", cg.Path, err, made)
		}
		if got := dial(t, cg, addr); got != "connected\n" {
			t.Errorf("%s: connect said %q", cg.Path, got)
		}
	}

	want := map[string]int{"no-touch/exec/kill/enforce": 1, "no-touch/connect/deny/enforce": 1,
		"watch-touch/exec/kill/monitor": 1, "watch-touch/connect/deny/monitor": 1}
	expectMatches(t, sub, want, func(m *events.PolicyMatch) {
		if m.Operation == "exec" && (m.Filename != "/usr/bin/touch" || m.Path == "" || len(m.Args) != 2 ||
			m.Args[0] != "/usr/bin/touch" || !strings.HasSuffix(m.Args[1], "/marker") || m.ArgsTruncated) {
			t.Errorf("exec match names %q (%q), args %q", m.Filename, m.Path, m.Args)
		}
		if m.Operation == "connect" && (m.Address != "127.0.0.1" || int(m.Port) != port || m.Protocol != "tcp") {
			t.Errorf("connect match to %s:%d/%s", m.Address, m.Port, m.Protocol)
		}
	})
	for _, c := range []struct {
		cg             *testutil.Cgroup
		policy, action string
		mode           string
	}{{enforced, "no-touch", "kill", "enforce"}, {enforced, "no-touch", "deny", "enforce"}, {monitored, "watch-touch", "kill", "monitor"}} {
		v, _ := testutil.Sample(t, f.reg, "orb8_policy_matches_total", map[string]string{"cgroup": c.cg.Path, "policy": c.policy, "action": c.action, "mode": c.mode})
		if v != 1 {
			t.Errorf("orb8_policy_matches_total{%s,%s,%s} = %v, want 1", c.cg.Path, c.policy, c.action, v)
		}
	}

	// Without policies the hooks come off: everything runs again.
	if err := f.probe.Apply(Set{}); err != nil {
		t.Fatal(err)
	}
	if err, made := touch(t, enforced); err != nil || !made {
		t.Errorf("after the policies went: touch ended with %v, marker made %v", err, made)
	}
	if len(f.probe.links) != 0 {
		t.Errorf("programs still attached: %v", f.probe.links)
	}
}

// TestSwapNeverLetsARuleLapse: while the rules are replaced again and
// again (each set kills touch among many other paths, under another policy
// name; with argsContain, when an argument holds "marker"), no exec of
// touch in the selected cgroup ever runs: a workload sees the whole old
// set or the whole new one.
func TestSwapNeverLetsARuleLapse(t *testing.T) {
	t.Run("paths", func(t *testing.T) { testSwap(t, nil) })
	t.Run("argsContain", func(t *testing.T) { testSwap(t, []string{"marker"}) })
}

func testSwap(t *testing.T, argsContain []string) {
	f := start(t)
	cg := testutil.NewCgroup(t)
	set := func(i int) Set {
		paths := make([]string, 0, 301)
		for j := range 300 {
			paths = append(paths, fmt.Sprintf("/opt/gen%d/bin%d", i, j))
		}
		paths = append(paths, "/usr/bin/touch")
		var args []string
		if argsContain != nil {
			args = append(slices.Clone(argsContain), fmt.Sprintf("gen%d", i))
		}
		return Set{Policies: []Policy{{Name: fmt.Sprintf("gen-%d", i), Enforce: true, Exec: []ExecRule{{Paths: paths, ArgsContain: args, Kill: true}}}},
			Cgroups: map[uint64][]int{cg.ID: {0}}}
	}
	if err := f.probe.Apply(set(0)); err != nil {
		t.Fatal(err)
	}
	sub := f.bus.Subscribe(1024, []string{events.KindPolicy}, nil)
	defer f.bus.Unsubscribe(sub)
	stop := make(chan struct{})
	type result struct {
		swaps int
		err   error
	}
	done := make(chan result, 1)
	go func() {
		n := 1
		for {
			select {
			case <-stop:
				done <- result{n, nil}
				return
			default:
			}
			if err := f.probe.Apply(set(n)); err != nil {
				done <- result{n, err}
				return
			}
			n++
		}
	}()
	stopSwaps := func() result {
		close(stop)
		return <-done
	}
	const execs = 200
	for i := range execs {
		if err, made := touch(t, cg); !killedBySIGKILL(err) || made {
			stopSwaps()
			t.Fatalf("exec %d: touch ended with %v, marker made %v; want SIGKILL", i, err, made)
		}
	}
	r := stopSwaps()
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("%d execs killed across %d swaps", execs, r.swaps)
	if r.swaps < 10 {
		t.Errorf("only %d swaps during the execs: the test did not test swapping", r.swaps)
	}
	// Every kill is on record, under the generation's policy that made it.
	policies := map[string]bool{}
	for i := range execs {
		select {
		case e := <-sub.C:
			if e.Policy.Action != "kill" || e.Policy.Mode != "enforce" {
				t.Fatalf("match %d: %+v", i, e.Policy)
			}
			policies[e.Policy.Policy] = true
		case <-time.After(2 * time.Second):
			t.Fatalf("%d kills on record, want %d", i, execs)
		}
	}
	if len(policies) < 2 {
		t.Errorf("kills recorded under %d policies: the swaps did not show", len(policies))
	}
	// Old generations leave nothing behind.
	if got := countKeys[enforceExecKey, enforceExecRule](t, f.probe.bpf.ExecRules); got != 301 {
		t.Errorf("%d exec rules in the kernel, want 301", got)
	}
	if got, want := countKeys[enforceNeedleKey, enforceNeedle](t, f.probe.bpf.ExecNeedles), 301*2*len(argsContain); got != want {
		t.Errorf("%d argsContain strings in the kernel, want %d", got, want)
	}
}

func countKeys[K, V any](t *testing.T, m interface {
	Iterate() *ebpf.MapIterator
}) int {
	t.Helper()
	var (
		k  K
		v  V
		n  int
		it = m.Iterate()
	)
	for it.Next(&k, &v) {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
