package probe

import (
	"errors"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/orb8/orb8/internal/testutil"
)

// prog is a do-nothing program for the given hook.
func prog(name string, typ ebpf.ProgramType, attach ebpf.AttachType, section, attachTo string) *ebpf.ProgramSpec {
	return &ebpf.ProgramSpec{
		Name: name, Type: typ, AttachType: attach, SectionName: section, AttachTo: attachTo, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	}
}

func rawTP() *ebpf.ProgramSpec {
	return prog("base", ebpf.RawTracepoint, ebpf.AttachNone, "raw_tracepoint/sched_process_exec", "sched_process_exec")
}

func TestOptionalProgramRefusedKeepsTheRest(t *testing.T) {
	testutil.RequireRoot(t)
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
		"base":    rawTP(),
		"kprobe":  prog("kprobe", ebpf.Kprobe, ebpf.AttachNone, "kprobe/do_exit", "do_exit"),
		"fentry":  prog("fentry", ebpf.Tracing, ebpf.AttachTraceFEntry, "fentry/do_exit", "do_exit"),
		"unknown": prog("unknown", ebpf.SocketFilter, ebpf.AttachNone, "socket", ""),
	}}
	objs, err := Load(spec, nil, LoadOptions{Programs: Programs{
		Required: []string{"base"},
		Optional: map[string]string{"kprobe": "a kprobe", "fentry": "an fentry", "unknown": "a socket filter"},
	}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer objs.Close()
	if objs.programs["base"] == nil {
		t.Fatal("required program not loaded")
	}
	if len(objs.links) != len(objs.programs) {
		t.Fatalf("%d links for %d programs", len(objs.links), len(objs.programs))
	}
	// On this kernel kprobes and fentry are absent; elsewhere they attach.
	for _, name := range []string{"kprobe", "fentry"} {
		if err := objs.Failed[name]; err != nil {
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("%s failed with %v, not classified as unsupported", name, err)
			}
			t.Logf("%s: %v", name, err)
		} else if objs.programs[name] == nil {
			t.Errorf("%s neither loaded nor failed", name)
		}
	}
	if objs.Failed["unknown"] == nil {
		t.Error("a program with no attach rule was accepted")
	}
}

func TestRequiredProgramRefusedFailsTheProbe(t *testing.T) {
	testutil.RequireRoot(t)
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
		"base": rawTP(),
		"bad":  prog("bad", ebpf.RawTracepoint, ebpf.AttachNone, "raw_tracepoint/no_such_tracepoint_orb8", "no_such_tracepoint_orb8"),
	}}
	objs, err := Load(spec, nil, LoadOptions{Programs: Programs{Required: []string{"bad"}, Optional: map[string]string{"base": "a raw tracepoint"}}})
	if err == nil {
		objs.Close()
		t.Fatal("Load succeeded without its required program")
	}
}

func TestRequiredProgramMissingFromTheSpecIsAnError(t *testing.T) {
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{"base": rawTP()}}
	base := Programs{Required: []string{"base"}}
	for _, opts := range []LoadOptions{{Programs: Programs{Required: []string{"typo"}}}, {Programs: base, Manual: []string{"typo"}}} {
		if objs, err := Load(spec, nil, opts); err == nil {
			objs.Close()
			t.Fatalf("Load(%+v) accepted a program the collection lacks", opts)
		}
	}
}

func TestUnsortedProgramIsAnError(t *testing.T) {
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{"base": rawTP(), "new": rawTP()}}
	objs, err := Load(spec, nil, LoadOptions{Programs: Programs{Required: []string{"base"}}})
	if err == nil {
		objs.Close()
		t.Fatal("Load accepted a program that is neither required, optional nor a fallback")
	}
}

// TestLoadEitherLoadsProgramsOrFallbacks: the programs load without their
// fallbacks; where one is refused, every fallback loads in place of every
// program it replaces, and none of those.
func TestLoadEitherLoadsProgramsOrFallbacks(t *testing.T) {
	testutil.RequireRoot(t)
	bad := prog("bad", ebpf.RawTracepoint, ebpf.AttachNone, "raw_tracepoint/no_such_tracepoint_orb8", "no_such_tracepoint_orb8")
	programs := Programs{
		Required: []string{"main", "other"},
		Fallback: map[string][]string{"main": {"fb1", "fb2"}, "other": {"fb3"}},
	}
	for _, tc := range []struct {
		main    *ebpf.ProgramSpec
		want    []string
		refused bool
	}{
		{rawTP(), []string{"main", "other"}, false},
		{bad, []string{"fb1", "fb2", "fb3"}, true},
	} {
		spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
			"main": tc.main, "other": rawTP(), "fb1": rawTP(), "fb2": rawTP(), "fb3": rawTP(),
		}}
		objs, refused, err := LoadEither(spec, nil, LoadOptions{Programs: programs})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for name := range objs.programs {
			got = append(got, name)
		}
		objs.Close()
		slices.Sort(got)
		if !slices.Equal(got, tc.want) || (refused != nil) != tc.refused {
			t.Errorf("main %s: loaded %v, refused %v; want %v, refused %v", tc.main.Name, got, refused, tc.want, tc.refused)
		}
	}
	if len(programs.Required) != 2 || programs.Required[0] != "main" {
		t.Errorf("LoadEither changed the caller's programs: %v", programs.Required)
	}
}
