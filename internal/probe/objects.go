package probe

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/orb8/orb8/internal/events"
)

// LoadOptions says how to load one probe's collection. Programs are named
// by bpf2go's generated constants (processProgHandleExec, ...).
type LoadOptions struct {
	// Programs sorts the collection's programs: required, optional or
	// fallback. Only a required program's failure fails Load.
	Programs
	// Manual programs are loaded but not attached (iterators, uprobes); the
	// probe attaches them itself.
	Manual []string
	// CgroupPath is where cgroup_skb and sockops programs attach.
	CgroupPath string
	// PerCgroup maps hold state per cgroup, their keys beginning with its
	// id: Forget clears the entries of gone cgroups.
	PerCgroup []string
}

// Objects are the loaded maps, programs and links of one probe: the
// framework's handle on them. The probe itself uses bpf2go's typed view,
// which Load fills.
type Objects struct {
	// Failed holds why each optional program is not running, by name.
	Failed map[string]error

	maps      map[string]*ebpf.Map
	perCgroup []*ebpf.Map
	programs  map[string]*ebpf.Program
	vars      map[string]*ebpf.Variable
	typed     reflect.Value // the generated struct Load filled; zeroed by Close
	links     []link.Link
	readers   []*ring
	read      atomic.Uint64
	prompt    func() bool // RelaxWakeups; nil: always prompt

	paceMu sync.Mutex    // guards readers, their poll intervals and wakeup
	wakeup time.Duration // what orb8_wakeup_ns was last set to; 0: its initial ORB8_WAKEUP_NS
}

// Load creates the collection's maps, then loads and attaches each program on
// its own, so that a program this kernel refuses only costs that program.
//
// typed is a pointer to bpf2go's generated objects struct (processObjects,
// ...), or nil: Load fills it with every map and variable and every program
// that loaded, by their ebpf tags. A program that did not load stays nil
// there, its error in Failed. Close zeroes it again.
func Load(spec *ebpf.CollectionSpec, typed any, opts LoadOptions) (*Objects, error) {
	for _, name := range append(append([]string{}, opts.Required...), opts.Manual...) {
		if spec.Programs[name] == nil {
			return nil, fmt.Errorf("program %s is not in the collection", name)
		}
	}
	for _, name := range opts.PerCgroup {
		if m := spec.Maps[name]; m == nil || m.KeySize < 8 {
			return nil, fmt.Errorf("map %s is not in the collection, or its keys hold no cgroup id", name)
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
	o := &Objects{maps: coll.Maps, vars: coll.Variables, programs: map[string]*ebpf.Program{}, Failed: map[string]error{}}
	for _, name := range opts.PerCgroup {
		o.perCgroup = append(o.perCgroup, o.maps[name])
	}

	names := make([]string, 0, len(spec.Programs))
	for name := range spec.Programs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		ps := spec.Programs[name]
		prog, err := loadProgram(spec, ps, o.maps)
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
				return nil, fmt.Errorf("program %s: %w", name, Explain(ps.Type, err))
			}
			o.Failed[name] = Explain(ps.Type, err)
			continue
		}
		o.programs[name] = prog
	}
	if typed != nil {
		if err := o.assign(typed); err != nil {
			o.Close()
			return nil, err
		}
	}
	return o, nil
}

// assign fills typed, a pointer to a generated objects struct, by its tags.
func (o *Objects) assign(typed any) error {
	v := reflect.ValueOf(typed)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("%T is not a pointer to bpf2go's objects struct", typed)
	}
	if err := o.assignFields(v.Elem()); err != nil {
		return err
	}
	o.typed = v.Elem()
	return nil
}

func (o *Objects) assignFields(v reflect.Value) error {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct { // processPrograms, processMaps, ...
			if err := o.assignFields(v.Field(i)); err != nil {
				return err
			}
			continue
		}
		name, ok := f.Tag.Lookup("ebpf")
		if !ok {
			continue
		}
		var found any
		switch f.Type {
		case reflect.TypeFor[*ebpf.Map]():
			found = o.maps[name]
		case reflect.TypeFor[*ebpf.Variable]():
			found = o.vars[name]
		case reflect.TypeFor[*ebpf.Program]():
			if p := o.programs[name]; p != nil {
				v.Field(i).Set(reflect.ValueOf(p))
			}
			continue // nil: not loaded, and Failed says why
		default:
			return fmt.Errorf("field %s: %s is not a map, program or variable", f.Name, f.Type)
		}
		if reflect.ValueOf(found).IsNil() {
			return fmt.Errorf("%s is not in the collection", name)
		}
		v.Field(i).Set(reflect.ValueOf(found))
	}
	return nil
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

// Counters are the probe's in-kernel loss counters (orb8_counters in orb8.h).
type Counters struct {
	RingbufLost uint64
	MapFull     uint64
}

// Maps every object shares through orb8.h. The framework reads them for any
// probe, without its generated types: the two lookups by name that remain.
const (
	countersMap = "orb8_counters"
	emitMap     = "orb8_emit"
)

// Counters sums the per-CPU loss counters. Zero for objects without them.
func (o *Objects) Counters() (Counters, error) {
	m := o.maps[countersMap]
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

// EmitWhile turns each of the probe's gated kernel event kinds (orb8_emit
// in orb8.h: bit k for the kernel's kind k) on while bus has a subscriber
// for its kind on the bus, and off otherwise.
func EmitWhile[K ~uint32](o *Objects, bus *events.Bus, kinds map[K]string) {
	EmitBits(o, bus, func() uint32 {
		on := uint32(0)
		for bit, k := range kinds {
			if bus.Wants(k) {
				on |= 1 << bit
			}
		}
		return on
	})
}

// EmitBits sets the probe's orb8_emit bits to what bits returns, now and
// whenever bus's subscribers change: for gates that are not one per kind.
func EmitBits(o *Objects, bus *events.Bus, bits func() uint32) {
	m := o.maps[emitMap]
	if m == nil || bus == nil {
		return
	}
	// Changes run their callbacks concurrently: one at a time, each reads
	// the subscribers as they are then, so the last write is never stale.
	var mu sync.Mutex
	bus.OnChange(func() {
		mu.Lock()
		defer mu.Unlock()
		_ = m.Put(uint32(0), bits())
	})
}

// Programs are the programs that loaded, by name, for their run-time
// statistics.
func (o *Objects) Programs() map[string]*ebpf.Program { return maps.Clone(o.programs) }

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
	o.paceMu.Lock() // Sync may read them meanwhile
	o.readers = nil
	o.paceMu.Unlock()
	for _, l := range o.links {
		errs = append(errs, l.Close())
	}
	for _, p := range o.programs {
		errs = append(errs, p.Close())
	}
	for _, m := range o.maps {
		errs = append(errs, m.Close())
	}
	if o.typed.IsValid() {
		o.typed.SetZero()
	}
	o.links, o.programs, o.maps, o.perCgroup, o.vars = nil, nil, nil, nil, nil
	return errors.Join(errs...)
}

// LoadEither loads spec as Load does, first with every program that has
// fallbacks and none of those, then, where the kernel refuses that, with
// the fallbacks in their place (among the required and manual programs)
// and none of the programs they replace: never both, which would count
// the same events twice. refused is why the first load failed when the
// fallbacks serve.
func LoadEither(spec *ebpf.CollectionSpec, typed any, opts LoadOptions) (o *Objects, refused, err error) {
	if o, refused = Load(either(spec, &opts, false), typed, opts); refused == nil {
		return o, nil, nil
	}
	if o, err = Load(either(spec, &opts, true), typed, opts); err != nil {
		return nil, nil, err
	}
	return o, refused, nil
}

// either is spec without the fallbacks of opts, or (fallbacks) without the
// programs they replace, and opts with them in those programs' places.
func either(spec *ebpf.CollectionSpec, opts *LoadOptions, fallbacks bool) *ebpf.CollectionSpec {
	s := spec.Copy()
	for prog, instead := range opts.Fallback {
		if !fallbacks {
			for _, name := range instead {
				delete(s.Programs, name)
			}
			continue
		}
		delete(s.Programs, prog)
		opts.Required = replaced(opts.Required, prog, instead)
		opts.Manual = replaced(opts.Manual, prog, instead)
	}
	return s
}

// replaced is names with name replaced by with, in a new slice.
func replaced(names []string, name string, with []string) []string {
	i := slices.Index(names, name)
	if i < 0 {
		return names
	}
	return slices.Concat(names[:i], with, names[i+1:])
}
