package kube_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/kube/kubetest"
	"github.com/orb8/orb8/internal/testutil"
)

// podCgroup makes the cgroup2 directories kubelet's cgroupfs driver would
// make for one container of pod p, under a parent of this test's own.
func podCgroup(t *testing.T, parent string, uid, cid string) *testutil.Cgroup {
	t.Helper()
	root, err := cgroup.FindMount()
	if err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(parent, "pod"+uid, cid)
	dir := filepath.Join(root, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for d := dir; d != root; d = filepath.Dir(d) {
			_ = os.Remove(d) // parents go once empty
		}
	})
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	return &testutil.Cgroup{Dir: dir, Path: rel, ID: st.Ino}
}

// TestAgentNamesAndFiltersPods runs the whole agent (real probes in the
// kernel, real API server): execs in a pod's container cgroup are counted
// under its namespace/pod/container, and a pod in an excluded namespace
// produces neither series nor events.
func TestAgentNamesAndFiltersPods(t *testing.T) {
	testutil.RequireRoot(t)
	f := kubetest.NewFixture(t)
	node := kubetest.Uniq("node")
	shown, hidden := f.Namespace(nil), f.Namespace(nil)
	cidShown, cidHidden := kubetest.ContainerID(), kubetest.ContainerID()
	podShown := f.Pod(shown, "client", node, nil, "", map[string]string{"curl": cidShown})
	podHidden := f.Pod(hidden, "noisy", node, nil, "", map[string]string{"spam": cidHidden})
	kubeconfig, err := kubetest.Shared.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg := agent.DefaultConfig()
	cfg.Probes = []string{"process"}
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.Kubeconfig, cfg.NodeName, cfg.ExcludeNamespaces = kubeconfig, node, []string{hidden}
	a, err := agent.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.Start(t.Context())
	t.Cleanup(func() { a.Close() })

	parent := "/kubepods-" + kubetest.Uniq("orb8test")
	cgShown := podCgroup(t, parent, string(podShown.UID), cidShown)
	cgHidden := podCgroup(t, parent, string(podHidden.UID), cidHidden)
	sub := a.Events().Subscribe(256, nil, func(e *events.Event) bool {
		return e.Kind == events.KindExec && (e.Workload.Path == cgShown.Path || e.Workload.Path == cgHidden.Path)
	})
	defer a.Events().Unsubscribe(sub)

	const shownExecs, hiddenExecs = 7, 5
	for range hiddenExecs {
		cgHidden.Run(t, "/bin/true")
	}
	for range shownExecs {
		cgShown.Run(t, "/bin/true")
	}
	labels := map[string]string{"namespace": shown, "pod": "client", "container": "curl", "cgroup": cgShown.Path}
	testutil.Eventually(t, 5*time.Second, func() bool {
		v, _ := testutil.Sample(t, a.Registry(), "orb8_process_exec_total", labels)
		return v == shownExecs
	}, "orb8_process_exec_total%v != %d; series: %s", labels, shownExecs, testutil.Series(t, a.Registry(), "orb8_process_exec_total"))
	if v, ok := testutil.Sample(t, a.Registry(), "orb8_process_exec_total", map[string]string{"cgroup": cgHidden.Path}); ok {
		t.Errorf("excluded pod has a series (value %v)", v)
	}
	var got []events.Event
	testutil.Eventually(t, 5*time.Second, func() bool {
		for {
			select {
			case e := <-sub.C:
				got = append(got, e)
			default:
				return len(got) >= shownExecs
			}
		}
	}, "got %d exec events of the shown pod, want %d", len(got), shownExecs)
	time.Sleep(200 * time.Millisecond) // let stray events of the hidden pod arrive
	for {
		select {
		case e := <-sub.C:
			got = append(got, e)
			continue
		default:
		}
		break
	}
	if len(got) != shownExecs {
		t.Fatalf("got %d exec events, want exactly %d (none from the excluded pod)", len(got), shownExecs)
	}
	for _, e := range got {
		if w := e.Workload; w.Namespace != shown || w.Pod != "client" || w.Container != "curl" {
			t.Errorf("exec event workload %+v, want %s/client/curl", w, shown)
		}
	}
}
