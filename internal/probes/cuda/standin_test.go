package cuda

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/cuda/cudatest"
	"github.com/orb8/orb8/internal/testutil"
)

var cflags = cudatest.CFlags

// buildStandins compiles the stand-in libraries and apps (cudatest.Build).
func buildStandins(t testing.TB, extra ...string) string {
	t.Helper()
	return cudatest.Build(t, extra...)
}

func gcc(t testing.TB, args ...string) {
	t.Helper()
	cudatest.Compile(t, "gcc", args...)
}

type fixture struct {
	probe *Probe
	reg   *prometheus.Registry
}

func start(t testing.TB, leakWindow time.Duration) *fixture {
	t.Helper()
	return startWith(t, Options{LeakWindow: leakWindow})
}

func startWith(t testing.TB, opts Options) *fixture {
	t.Helper()
	testutil.RequireRoot(t)
	res := testutil.Resolver(t)
	f := &fixture{probe: New(opts), reg: prometheus.NewPedanticRegistry()}
	env := probe.Env{Resolver: res, Events: events.NewBus(), Log: slog.Default(), CgroupRoot: res.Root()}
	if err := f.probe.Start(context.Background(), env); err != nil {
		t.Fatalf("start cuda probe: %v", err)
	}
	t.Cleanup(func() { f.probe.Close() })
	f.reg.MustRegister(testutil.Collector(t, f.probe))
	return f
}

func (f *fixture) value(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	v, _ := testutil.Sample(t, f.reg, name, labels)
	return v
}

func (f *fixture) waitFor(t testing.TB, name string, labels map[string]string, want float64) {
	t.Helper()
	testutil.Eventually(t, 3*time.Second, func() bool { return f.value(t, name, labels) == want },
		"%s%v = %v, want %v; series: %s", name, labels, f.value(t, name, labels), want, testutil.Series(t, f.reg, name))
}

// hooked reports whether the stand-in libraries have uprobes (the runtime
// and the driver, and the others named) and, when calls are sampled, the
// app's process has its sampled hooks.
func (f *fixture) hooked(t testing.TB, a *app, more ...string) bool {
	return f.librariesHooked(t, more...) && f.watching(a)
}

// watching reports whether the app's process has its sampled hooks, or
// none are sampled.
func (f *fixture) watching(a *app) bool {
	return f.probe.sampler == nil || f.probe.sampler.watching(a.Cmd.Process.Pid)
}

func (f *fixture) librariesHooked(t testing.TB, more ...string) bool {
	for _, lib := range append([]string{"cudart", "cuda"}, more...) {
		if f.value(t, "orb8_accelerator_libraries_hooked", map[string]string{"runtime": "cuda", "library": lib}) != 1 {
			return false
		}
	}
	return true
}

// app is the stand-in CUDA application, running in a test cgroup.
type app struct{ *testutil.Piped }

func startApp(t testing.TB, cg *testutil.Cgroup, dir string, args ...string) *app {
	t.Helper()
	return startCommand(t, cg.Command(t, filepath.Join(dir, "app"), append([]string{dir}, args...)...))
}

// startCommand starts the app by a command line of the caller's and waits
// until it has loaded the libraries.
func startCommand(t testing.TB, cmd *exec.Cmd) *app {
	t.Helper()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t.Cleanup(func() { // after StartPiped's, which ends the app
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("app stderr: %s", stderr.String())
		}
	})
	a := &app{testutil.StartPiped(t, cmd)}
	a.expect(t, "loaded")
	return a
}

// expect reads the app's next line and fails unless it starts with want.
func (a *app) expect(t testing.TB, want string) string {
	t.Helper()
	line, err := a.Stdout.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, want) {
		t.Fatalf("app said %q (%v), want %q", line, err, want)
	}
	return strings.TrimSpace(line)
}

func (a *app) proceed(t testing.TB) {
	t.Helper()
	if _, err := io.WriteString(a.Stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
}

// exit closes the app's stdin and waits for it to end.
func (a *app) exit(t testing.TB) {
	t.Helper()
	a.Stdin.Close()
	if err := a.Cmd.Wait(); err != nil {
		t.Fatalf("app: %v", err)
	}
}
