package probe

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/events"
)

// LoadOptions says how to load one probe's collection.
type LoadOptions struct {
	// Programs sorts the collection's programs: required, optional or
	// fallback. Only a required program's failure fails Load.
	Programs
	// Manual programs are loaded but not attached (iterators, uprobes); the
	// probe attaches them itself.
	Manual []string
	// CgroupPath is where cgroup_skb and sockops programs attach.
	CgroupPath string
}

// Objects are the loaded maps, programs and links of one probe.
type Objects struct {
	Maps     map[string]*ebpf.Map
	Programs map[string]*ebpf.Program
	// Failed holds why each optional program is not running.
	Failed map[string]error

	links   []link.Link
	readers []*ring
	read    atomic.Uint64
}

// Load creates the collection's maps, then loads and attaches each program on
// its own, so that a program this kernel refuses only costs that program.
func Load(spec *ebpf.CollectionSpec, opts LoadOptions) (*Objects, error) {
	for _, name := range append(append([]string{}, opts.Required...), opts.Manual...) {
		if spec.Programs[name] == nil {
			return nil, fmt.Errorf("program %s is not in the collection", name)
		}
	}
	for name := range spec.Programs {
		if !opts.Sorted(name) {
			return nil, fmt.Errorf("program %s is neither required, optional nor a fallback", name)
		}
	}
	if err := setHierarchy(spec); err != nil {
		return nil, err
	}
	mapsOnly := spec.Copy()
	mapsOnly.Programs = nil
	coll, err := ebpf.NewCollection(mapsOnly)
	if err != nil {
		return nil, fmt.Errorf("create maps: %w", err)
	}
	o := &Objects{Maps: coll.Maps, Programs: map[string]*ebpf.Program{}, Failed: map[string]error{}}

	names := make([]string, 0, len(spec.Programs))
	for name := range spec.Programs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ps := spec.Programs[name]
		prog, err := loadProgram(spec, ps, o.Maps)
		if err == nil && !slices.Contains(opts.Manual, name) {
			var l link.Link
			l, err = attach(prog, ps, opts.CgroupPath)
			if err != nil {
				prog.Close()
				prog = nil
			} else if l != nil {
				o.links = append(o.links, l)
			}
		}
		if err != nil {
			if slices.Contains(opts.Required, name) {
				o.Close()
				return nil, fmt.Errorf("program %s: %w", name, Explain(err))
			}
			o.Failed[name] = Explain(err)
			continue
		}
		o.Programs[name] = prog
	}
	return o, nil
}

func loadProgram(spec *ebpf.CollectionSpec, ps *ebpf.ProgramSpec, maps map[string]*ebpf.Map) (*ebpf.Program, error) {
	one := spec.Copy()
	one.Programs = map[string]*ebpf.ProgramSpec{ps.Name: ps}
	coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{MapReplacements: maps})
	if err != nil {
		return nil, err
	}
	prog := coll.DetachProgram(ps.Name)
	coll.Close()
	return prog, nil
}

// attach links a program to the hook its ELF section names.
func attach(prog *ebpf.Program, ps *ebpf.ProgramSpec, cgroupPath string) (link.Link, error) {
	kind, target, _ := strings.Cut(ps.SectionName, "/")
	switch kind {
	case "tp_btf", "fentry", "fexit", "fmod_ret", "lsm":
		return link.AttachTracing(link.TracingOptions{Program: prog})
	case "raw_tp", "raw_tracepoint":
		return link.AttachRawTracepoint(link.RawTracepointOptions{Name: target, Program: prog})
	case "tp", "tracepoint":
		group, name, ok := strings.Cut(target, "/")
		if !ok {
			return nil, fmt.Errorf("section %q: want tracepoint/<group>/<name>", ps.SectionName)
		}
		if err := EnsureTracefs(); err != nil {
			return nil, err
		}
		return link.Tracepoint(group, name, prog, nil)
	case "kprobe":
		return link.Kprobe(target, prog, nil)
	case "kretprobe":
		return link.Kretprobe(target, prog, nil)
	case "cgroup_skb", "sockops", "cgroup":
		if cgroupPath == "" {
			return nil, fmt.Errorf("section %q needs a cgroup to attach to", ps.SectionName)
		}
		return link.AttachCgroup(link.CgroupOptions{Path: cgroupPath, Attach: ps.AttachType, Program: prog})
	}
	return nil, fmt.Errorf("section %q: no automatic attach; list the program as Manual", ps.SectionName)
}

// ErrUnsupported marks a hook this kernel does not offer.
var ErrUnsupported = errors.New("hook not supported by this kernel")

// Explain wraps errors that mean "this kernel lacks the hook" in ErrUnsupported,
// keeping the original for the message.
func Explain(err error) error {
	if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.EPERM) ||
		errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) && strings.Contains(err.Error(), "attach") {
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return err
}

// Counters are the probe's in-kernel loss counters (orb8_counters in orb8.h).
type Counters struct {
	RingbufLost uint64
	MapFull     uint64
}

// Counters sums the per-CPU loss counters. Zero for objects without them.
func (o *Objects) Counters() (Counters, error) {
	m := o.Maps["orb8_counters"]
	if m == nil {
		return Counters{}, nil
	}
	var c Counters
	for slot, dst := range []*uint64{&c.RingbufLost, &c.MapFull} {
		var perCPU []uint64
		if err := m.Lookup(uint32(slot), &perCPU); err != nil {
			return c, err
		}
		for _, v := range perCPU {
			*dst += v
		}
	}
	return c, nil
}

// EmitWhile turns the probe's gated kernel events (orb8_emit in orb8.h) on
// while bus has a subscriber for any of kinds, and off otherwise.
func (o *Objects) EmitWhile(bus *events.Bus, kinds ...string) {
	m := o.Maps["orb8_emit"]
	if m == nil || bus == nil {
		return
	}
	bus.OnChange(func() {
		on := uint32(0)
		for _, k := range kinds {
			if bus.Wants(k) {
				on = 1
			}
		}
		_ = m.Put(uint32(0), on)
	})
}

// EventsRead is the number of ring buffer records read so far.
func (o *Objects) EventsRead() uint64 { return o.read.Load() }

// Release closes the objects *objs points at, when loaded, and clears the
// pointer: what every probe's Close ends with.
func Release(objs **Objects) error {
	if *objs == nil {
		return nil
	}
	err := (*objs).Close()
	*objs = nil
	return err
}

// Close stops the readers, detaches every link and unloads everything.
func (o *Objects) Close() error {
	var errs []error
	for _, r := range o.readers {
		errs = append(errs, r.Close())
	}
	for _, l := range o.links {
		errs = append(errs, l.Close())
	}
	for _, p := range o.Programs {
		errs = append(errs, p.Close())
	}
	for _, m := range o.Maps {
		errs = append(errs, m.Close())
	}
	o.readers, o.links, o.Programs, o.Maps = nil, nil, nil, nil
	return errors.Join(errs...)
}
