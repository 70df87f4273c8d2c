package probe

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/testutil"
)

func TestExplainNamesTheMissingCapability(t *testing.T) {
	eperm := fmt.Errorf("load program: %w", unix.EPERM)
	all := func(int) bool { return true }
	without := func(missing ...int) func(int) bool {
		return func(c int) bool {
			for _, m := range missing {
				if c == m {
					return false
				}
			}
			return true
		}
	}
	for _, tc := range []struct {
		name    string
		typ     ebpf.ProgramType
		err     error
		have    func(int) bool
		is      error
		mention string
	}{
		{"tracing without CAP_PERFMON", ebpf.Tracing, eperm, without(capPerfmon, capSysAdmin), ErrMissingCapability, "missing capability CAP_PERFMON (a Tracing program needs CAP_BPF and CAP_PERFMON)"},
		{"CAP_SYS_ADMIN stands in for CAP_PERFMON", ebpf.RawTracepoint, eperm, without(capPerfmon), ErrUnsupported, "refused with every capability"},
		{"no CAP_BPF nor CAP_SYS_ADMIN", ebpf.Kprobe, eperm, without(capBPF, capSysAdmin, capPerfmon), ErrMissingCapability, "CAP_BPF and CAP_PERFMON (a"},
		{"cgroup program without CAP_NET_ADMIN", ebpf.CGroupSKB, eperm, without(capNetAdmin), ErrMissingCapability, "missing capability CAP_NET_ADMIN"},
		{"every capability: the kernel refuses", ebpf.Tracing, eperm, all, ErrUnsupported, "hook not supported by this kernel: refused with every capability it needs"},
		{"no such hook", ebpf.Kprobe, fmt.Errorf("create kprobe: %w", unix.ENOENT), all, ErrUnsupported, "no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := explain(tc.typ, tc.err, tc.have)
			if !errors.Is(err, tc.is) || !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("explain = %v; want %v, wrapping %v, mentioning %q", err, tc.is, tc.err, tc.mention)
			}
			if tc.is == ErrMissingCapability && errors.Is(err, ErrUnsupported) {
				t.Errorf("%v: a missing capability is called unsupported", err)
			}
		})
	}
	if err := explain(ebpf.Tracing, errors.New("verifier: invalid access"), all); errors.Is(err, ErrUnsupported) || errors.Is(err, ErrMissingCapability) {
		t.Errorf("a verifier rejection classified as %v", err)
	}
}

// On the real kernel: a thread without CAP_PERFMON (nor CAP_SYS_ADMIN) is
// refused a raw tracepoint program, and Load says which capability it lacks.
func TestLoadSaysWhichCapabilityIsMissing(t *testing.T) {
	testutil.RequireRoot(t)
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{"base": rawTP()}}
	// Load once with every capability: cilium/ebpf's feature probes then
	// run, and cache their results, with nothing missing.
	objs, err := Load(spec, nil, LoadOptions{Programs: Programs{Required: []string{"base"}}})
	if err != nil {
		t.Fatalf("load with every capability: %v", err)
	}
	objs.Close()

	done := make(chan error, 1)
	go func() {
		// Capabilities are per thread: this one lowers its own and is never
		// unlocked, so it ends with the goroutine instead of serving others.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			done <- err
			return
		}
		for _, c := range []int{capPerfmon, capSysAdmin} {
			data[c/32].Effective &^= 1 << (c % 32)
		}
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			done <- fmt.Errorf("capset: %w", err)
			return
		}
		objs, err := Load(spec, nil, LoadOptions{Programs: Programs{Required: []string{"base"}}})
		if err == nil {
			objs.Close()
			err = errors.New("loaded without CAP_PERFMON")
		}
		done <- err
	}()
	err = <-done
	if !errors.Is(err, ErrMissingCapability) || errors.Is(err, ErrUnsupported) || !errors.Is(err, unix.EPERM) ||
		!strings.Contains(err.Error(), "CAP_PERFMON") {
		t.Fatalf("Load = %v; want a missing CAP_PERFMON named, with the kernel's EPERM", err)
	}
	t.Log(err)
}
