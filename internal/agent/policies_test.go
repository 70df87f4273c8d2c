package agent

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/audit"
	"github.com/orb8/orb8/internal/testutil"
)

// policyRun is a touch or a connect made in a test cgroup.
type policyRun struct{ t *testing.T }

// touch runs /usr/bin/touch in cg: whether SIGKILL ended it, and whether
// its marker file exists.
func (r policyRun) touch(cg *testutil.Cgroup) (killed, made bool) {
	r.t.Helper()
	marker := filepath.Join(r.t.TempDir(), "marker")
	err := cg.Command(r.t, "/usr/bin/touch", marker).Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		ws, _ := exit.Sys().(syscall.WaitStatus)
		killed = ws.Signaled() && ws.Signal() == syscall.SIGKILL
	} else if err != nil {
		r.t.Fatal(err)
	}
	_, statErr := os.Stat(marker)
	return killed, statErr == nil
}

// connect opens a TCP connection to addr from cg with bash's /dev/tcp: ""
// or bash's error.
func (r policyRun) connect(cg *testutil.Cgroup, addr *net.TCPAddr) string {
	r.t.Helper()
	out, err := cg.Command(r.t, "/bin/bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%d", addr.IP, addr.Port)).CombinedOutput()
	if err == nil {
		return ""
	}
	return string(out)
}

// answerDNS answers DNS queries on 127.0.0.1:53 over UDP with an empty
// NOERROR response, and returns the address.
func answerDNS(t *testing.T) *net.UDPAddr {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:53")
	if err != nil {
		t.Skipf("no DNS responder on 127.0.0.1:53: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			resp := append([]byte{}, buf[:n]...)
			resp[2] |= 0x80 // QR: a response, RCODE 0
			c.WriteTo(resp, from)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr)
}

// lookup sends a DNS query for name (type A) to server from cg, with
// bash's /dev/udp, and waits a moment for the answer.
func lookup(t *testing.T, cg *testutil.Cgroup, server *net.UDPAddr, name string) {
	t.Helper()
	var q strings.Builder
	q.WriteString(`\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00`)
	for _, label := range strings.Split(name, ".") {
		fmt.Fprintf(&q, `\x%02x%s`, len(label), label)
	}
	q.WriteString(`\x00\x00\x01\x00\x01`)
	script := fmt.Sprintf(`exec 3<>/dev/udp/%s/%d; printf '%s' >&3; sleep 0.3`, server.IP, server.Port, q.String())
	if out, err := cg.Command(t, "/bin/bash", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("lookup %s: %v: %s", name, err, out)
	}
}

// auditLines counts the audit log's records by policy.
func auditLines(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out[r.Policy+"/"+r.Operation+"/"+r.Action+"/"+r.Mode]++
	}
	return out
}

// noTouchPolicy is the enforcing policy no-touch of cg: touch is killed
// (unless !touchRule) and TCP connects to addr are denied.
func noTouchPolicy(cg *testutil.Cgroup, addr *net.TCPAddr, touchRule bool) string {
	exec := ""
	if touchRule {
		exec = "  - exec: {paths: [/usr/bin/touch]}\n    action: kill\n"
	}
	return fmt.Sprintf(`apiVersion: orb8.dev/v1alpha1
kind: ClusterSecurityPolicy
metadata: {name: no-touch}
spec:
  mode: enforce
  selector: {cgroups: [%s]}
  rules:
%s  - connect: {cidrs: [127.0.0.1/32], ports: [%d], protocols: [tcp]}
    action: deny
`, cg.Path, exec, addr.Port)
}

// canaryPolicy is the monitoring policy canary of cg, which audits true:
// its record says the policies are in force (awaitCanary).
func canaryPolicy(cg *testutil.Cgroup) string {
	return fmt.Sprintf(`apiVersion: orb8.dev/v1alpha1
kind: ClusterSecurityPolicy
metadata: {name: canary}
spec:
  mode: monitor
  selector: {cgroups: [%s]}
  rules:
  - exec: {paths: [/bin/true, /usr/bin/true]}
    action: audit
`, cg.Path)
}

// awaitCanary runs true in canary until recorded says its match was
// recorded: then the policies are in force.
func awaitCanary(t *testing.T, canary *testutil.Cgroup, recorded func() bool) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, func() bool {
		canary.Run(t, "/bin/true")
		return recorded()
	}, "policies never applied: the canary's exec was not recorded")
}

// TestPolicyDirEnforcesAndAudits is the standalone acceptance of
// --policy-dir: an enforcing policy kills touch before it runs and refuses
// a connect with EPERM in the cgroup it selects, and nowhere else; a
// monitoring policy lets touch run and records it; the audit log holds one
// line per match and orb8_policy_matches_total agrees; a bad file is
// skipped while the good one stays in force; a changed file applies within
// 2 s.
func TestPolicyDirEnforcesAndAudits(t *testing.T) {
	testutil.RequireRoot(t)
	enforced, unselected, monitored, canary, looker := testutil.NewCgroup(t), testutil.NewCgroup(t), testutil.NewCgroup(t), testutil.NewCgroup(t), testutil.NewCgroup(t)
	dnsServer := answerDNS(t)
	ln := testutil.AcceptAll(t)
	addr := ln
	dir := t.TempDir()
	policies := func(touchRule bool) string {
		return strings.Join([]string{noTouchPolicy(enforced, addr, touchRule), `apiVersion: orb8.dev/v1alpha1
kind: ClusterSecurityPolicy
metadata: {name: watch-touch}
spec:
  mode: monitor
  selector: {cgroups: [` + monitored.Path + `]}
  rules:
  - exec: {paths: [/usr/bin/touch]}
    action: kill
`, canaryPolicy(canary), `apiVersion: orb8.dev/v1alpha1
kind: ClusterSecurityPolicy
metadata: {name: no-onion}
spec:
  selector: {cgroups: [` + looker.Path + `]}
  rules:
  - dns: {names: ["*.onion"]}
    action: audit
`}, "---\n")
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("policies.yaml", policies(true))
	write("bad.yaml", "apiVersion: orb8.dev/v1alpha1\nkind: ClusterSecurityPolicy\nmetadata: {name: bad}\nspec:\n  rules:\n  - exec: {paths: [/bin/sh]}\n    action: kil\n")
	log := filepath.Join(t.TempDir(), "audit.log")
	url, api := testutil.RunAgent(t, "--probes", "cgroup,process,dns", "--policy-dir", dir, "--audit-log", log)

	awaitCanary(t, canary, func() bool { return auditLines(t, log)["canary/exec/audit/monitor"] > 0 })

	r := policyRun{t}
	if killed, made := r.touch(enforced); !killed || made {
		t.Errorf("enforced cgroup: touch killed %v, marker made %v; want killed, no marker", killed, made)
	}
	if got := r.connect(enforced, addr); !strings.Contains(got, "Operation not permitted") {
		t.Errorf("enforced cgroup: connect said %q, want EPERM", got)
	}
	for _, cg := range []*testutil.Cgroup{unselected, monitored} {
		if killed, made := r.touch(cg); killed || !made {
			t.Errorf("%s: touch killed %v, marker made %v; want it run", cg.Path, killed, made)
		}
		if got := r.connect(cg, addr); got != "" {
			t.Errorf("%s: connect said %q", cg.Path, got)
		}
	}

	// Lookups of a name the DNS rule matches and of one it does not.
	for _, name := range []string{"hidden.service.onion", "example.org"} {
		lookup(t, looker, dnsServer, name)
	}

	want := map[string]int{"no-touch/exec/kill/enforce": 1, "no-touch/connect/deny/enforce": 1, "watch-touch/exec/kill/monitor": 1,
		"no-onion/dns/audit/enforce": 1}
	check := func() bool {
		got := auditLines(t, log)
		for k, n := range want {
			if got[k] != n {
				return false
			}
		}
		return len(got) == len(want)+1 // and the canary's
	}
	testutil.Eventually(t, 2*time.Second, check, "audit log %v, want %v and the canary", auditLines(t, log), want)
	time.Sleep(300 * time.Millisecond) // nothing more may come
	if !check() {
		t.Errorf("audit log %v, want exactly %v and the canary", auditLines(t, log), want)
	}
	matches := map[string]float64{}
	if f := family(t, url, "orb8_policy_matches_total"); f != nil {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			matches[labels["policy"]+"/"+labels["action"]+"/"+labels["mode"]+"@"+labels["cgroup"]] += m.GetCounter().GetValue()
		}
	}
	if got := counterBy(t, url, "orb8_audit_records_missed_total", "sink"); !reflect.DeepEqual(got, map[string]float64{"file": 0}) {
		t.Errorf("orb8_audit_records_missed_total by sink: %v, want file 0", got)
	}
	for k, n := range map[string]float64{
		"no-touch/kill/enforce@" + enforced.Path: 1, "no-touch/deny/enforce@" + enforced.Path: 1,
		"watch-touch/kill/monitor@" + monitored.Path: 1, "no-onion/audit/enforce@" + looker.Path: 1,
	} {
		if matches[k] != n {
			t.Errorf("orb8_policy_matches_total %s = %v, want %v (all: %v)", k, matches[k], n, matches)
		}
	}

	// orb8 status names the bad file, and with -o json why.
	out, err := exec.Command(testutil.Binary(t), "status", "--agent", api).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "degraded: policy file "+filepath.Join(dir, "bad.yaml")) {
		t.Errorf("orb8 status does not report the bad policy file (%v):\n%s", err, out)
	}
	out, err = exec.Command(testutil.Binary(t), "status", "--agent", api, "-o", "json").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `is not one of kill, audit`) {
		t.Errorf("orb8 status -o json does not say why the policy file is bad (%v):\n%s", err, out)
	}

	// The touch rule removed: touch runs again within 2 s; connect stays refused.
	write("policies.yaml", policies(false))
	start := time.Now()
	testutil.Eventually(t, 2*time.Second, func() bool {
		_, made := r.touch(enforced)
		return made
	}, "touch still killed 2 s after its rule was removed")
	t.Logf("rule removal applied within %v", time.Since(start))
	if got := r.connect(enforced, addr); !strings.Contains(got, "Operation not permitted") {
		t.Errorf("after the change: connect said %q, want EPERM", got)
	}
}

// TestPolicyDirArgsContain: a policy file's exec rule with argsContain
// kills touch when an argument holds the string, and only then; the audit
// log holds one line for it.
func TestPolicyDirArgsContain(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	dir := t.TempDir()
	policy := fmt.Sprintf(`apiVersion: orb8.dev/v1alpha1
kind: ClusterSecurityPolicy
metadata: {name: no-forbidden}
spec:
  selector: {cgroups: [%s]}
  rules:
  - exec: {paths: [/usr/bin/touch], argsContain: [forbidden]}
    action: kill
  - exec: {paths: [/bin/true, /usr/bin/true], argsContain: [canary]}
    action: audit
`, cg.Path)
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "audit.log")
	testutil.RunAgent(t, "--probes", "cgroup", "--policy-dir", dir, "--audit-log", log)
	testutil.Eventually(t, 5*time.Second, func() bool {
		cg.Run(t, "/bin/true", "canary")
		return auditLines(t, log)["no-forbidden/exec/audit/enforce"] > 0
	}, "policy never applied; audit log: %v", auditLines(t, log))

	files := t.TempDir()
	for _, c := range []struct {
		name   string
		killed bool
	}{{"forbidden-file", true}, {"allowed", false}} {
		path := filepath.Join(files, c.name)
		err := cg.Command(t, "/usr/bin/touch", path).Run()
		_, statErr := os.Stat(path)
		var exit *exec.ExitError
		killed := errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
		if killed != c.killed || (statErr == nil) == c.killed {
			t.Errorf("touch %s: ended with %v, file made %v; want killed %v", c.name, err, statErr == nil, c.killed)
		}
	}
	testutil.Eventually(t, 2*time.Second, func() bool { return auditLines(t, log)["no-forbidden/exec/kill/enforce"] == 1 },
		"audit log %v, want one kill", auditLines(t, log))
	time.Sleep(300 * time.Millisecond)
	if n := auditLines(t, log)["no-forbidden/exec/kill/enforce"]; n != 1 {
		t.Errorf("%d kills in the audit log, want 1", n)
	}
}
