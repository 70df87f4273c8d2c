package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/testutil"
)

// On a build that builds.txt lists (this machine's, usually), every hook it
// says the build refuses is refused: the list stays a fact, not a memory.
func TestThisBuildRefusesWhatBuildsTxtSays(t *testing.T) {
	testutil.RequireRoot(t)
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	rows, err := readBuilds(buildsTxt)
	if err != nil {
		t.Fatal(err)
	}
	// The control: a trial program for a hook every build here takes loads.
	control, _, _ := trial("iter/task")
	prog, err := ebpf.NewProgram(control)
	if err != nil {
		t.Fatalf("the trial program for iter/task does not load: %v", err)
	}
	prog.Close()
	tried := 0
	for _, r := range rows {
		if r.build != release {
			continue
		}
		tried++
		t.Run(r.hook, func(t *testing.T) {
			spec, attach, err := trial(r.hook)
			if err != nil {
				t.Fatal(err)
			}
			prog, err := ebpf.NewProgram(spec)
			if err == nil {
				defer prog.Close()
				err = attach(prog)
			}
			if err == nil {
				t.Fatalf("%s loads and attaches on %s; builds.txt says it is refused (%s)", r.hook, release, r.how)
			}
			t.Logf("refused as listed: %v", err)
		})
	}
	if tried == 0 {
		t.Skipf("kernel %s is not in builds.txt: a build met for the first time; list the hooks it refuses", release)
	}
}

// trial is the smallest program for a hook, and how it attaches. For
// iterators loading decides: map-element targets attach only with a map.
func trial(hook string) (*ebpf.ProgramSpec, func(*ebpf.Program) error, error) {
	spec := &ebpf.ProgramSpec{Name: "trial", License: "GPL", Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}}
	tracing := func(p *ebpf.Program) error {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err == nil {
			l.Close()
		}
		return err
	}
	kprobe := func(ret bool) func(*ebpf.Program) error {
		return func(p *ebpf.Program) error {
			attach := link.Kprobe
			if ret {
				attach = link.Kretprobe
			}
			l, err := attach("vfs_read", p, nil)
			if err == nil {
				l.Close()
			}
			return err
		}
	}
	switch {
	case hook == "kprobe" || hook == "kretprobe":
		spec.Type = ebpf.Kprobe
		return spec, kprobe(hook == "kretprobe"), nil
	case hook == "fentry" || hook == "fexit":
		spec.Type, spec.AttachTo = ebpf.Tracing, "vfs_read"
		spec.AttachType = map[string]ebpf.AttachType{"fentry": ebpf.AttachTraceFEntry, "fexit": ebpf.AttachTraceFExit}[hook]
		return spec, tracing, nil
	case hook == "fmod_ret":
		spec.Type, spec.AttachType, spec.AttachTo = ebpf.Tracing, ebpf.AttachModifyReturn, "bpf_modify_return_test"
		return spec, tracing, nil
	case hook == "lsm":
		spec.Type, spec.AttachType, spec.AttachTo = ebpf.LSM, ebpf.AttachLSMMac, "file_open"
		return spec, tracing, nil
	case strings.HasPrefix(hook, "iter/"):
		spec.Type, spec.AttachType, spec.AttachTo = ebpf.Tracing, ebpf.AttachTraceIter, strings.TrimPrefix(hook, "iter/")
		return spec, func(*ebpf.Program) error { return nil }, nil
	}
	return nil, nil, fmt.Errorf("no trial program for hook %s: add one", hook)
}
