package probe

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/orb8/orb8/internal/events"
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

// TestEmitGateFollowsTheLastChange: a watcher that subscribes while the
// last one leaves finds its kind's gate open, however the two changes'
// updates of the gate interleave (bits here returns a while after it read
// the subscribers, so that a stale update can land last).
func TestEmitGateFollowsTheLastChange(t *testing.T) {
	testutil.RequireRoot(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	bus := events.NewBus()
	EmitBits(&Objects{maps: map[string]*ebpf.Map{emitMap: m}}, bus, func() uint32 {
		watched := bus.Wants(events.KindExec)
		time.Sleep(50 * time.Microsecond) // widens the gap between reading and writing
		if watched {
			return 1 << 1
		}
		return 0
	})
	last := bus.Subscribe(1, []string{events.KindExec}, nil)
	for round := range 500 {
		var (
			wg   sync.WaitGroup
			next *events.Subscription
		)
		wg.Add(2)
		go func() { defer wg.Done(); bus.Unsubscribe(last) }()
		go func() { defer wg.Done(); next = bus.Subscribe(1, []string{events.KindExec}, nil) }()
		wg.Wait()
		var gate uint32
		if err := m.Lookup(uint32(0), &gate); err != nil {
			t.Fatal(err)
		}
		if gate != 1<<1 {
			t.Fatalf("round %d: one watcher left as another came, gate %#x, want %#x", round, gate, 1<<1)
		}
		last = next
	}
}
