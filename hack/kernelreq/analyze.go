package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/orb8/orb8/internal/probe"
)

// need is one thing a program needs from the kernel, and since when.
type need struct {
	kind, name string
	first      version
}

// program is what one BPF program needs from the kernel.
type program struct {
	name, section         string
	progType, hook        need
	helpers, kfuncs, maps []need // sorted by name
	loss                  string // what the probe loses without it
}

// minimum is the first kernel with everything the program needs, and what
// sets it.
func (p program) minimum() need {
	all := append([]need{p.progType, p.hook}, p.helpers...)
	all = append(append(all, p.kfuncs...), p.maps...)
	most := all[0]
	for _, n := range all[1:] {
		if most.first.less(n.first) {
			most = n
		}
	}
	return most
}

// analyze reads what each program of a probe's collections needs. specs
// are the probe's objects (one per architecture): a program in several is
// one program, and must be the same kind of program in each.
func analyze(specs []*ebpf.CollectionSpec, sorted probe.Programs, v versions) ([]program, error) {
	byName := map[string]*program{}
	for _, spec := range specs {
		for name, ps := range spec.Programs {
			p, err := analyzeProgram(spec, ps, v)
			if err != nil {
				return nil, fmt.Errorf("program %s: %w", name, err)
			}
			if !sorted.Sorted(name) {
				return nil, fmt.Errorf("program %s is neither required, optional nor a fallback in its probe's Programs", name)
			}
			p.loss = sorted.Loss(name)
			if seen := byName[name]; seen != nil {
				if seen.section != p.section || seen.progType != p.progType {
					return nil, fmt.Errorf("program %s is %s %s in one object, %s %s in another", name, seen.progType.name, seen.section, p.progType.name, p.section)
				}
				seen.helpers = union(seen.helpers, p.helpers)
				seen.kfuncs = union(seen.kfuncs, p.kfuncs)
				seen.maps = union(seen.maps, p.maps)
				continue
			}
			byName[name] = p
		}
	}
	var out []program
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, *byName[name])
	}
	return out, nil
}

func analyzeProgram(spec *ebpf.CollectionSpec, ps *ebpf.ProgramSpec, v versions) (*program, error) {
	p := &program{name: ps.Name, section: ps.SectionName}
	hook, first, err := v.hook(ps.SectionName)
	if err != nil {
		return nil, err
	}
	p.hook = need{kindHook, hook, first}
	if first, err = v.first(kindProgType, ps.Type.String()); err != nil {
		return nil, err
	}
	p.progType = need{kindProgType, ps.Type.String(), first}
	helpers, kfuncs, mapNames := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, ins := range ps.Instructions {
		switch {
		case ins.IsBuiltinCall():
			helpers[helperName(asm.BuiltinFunc(ins.Constant))] = true
		case ins.IsKfuncCall():
			if ins.Reference() == "" {
				return nil, fmt.Errorf("a kfunc call without a name at instruction %v", ins)
			}
			kfuncs[ins.Reference()] = true
		case ins.IsLoadFromMap() && ins.Reference() != "":
			mapNames[ins.Reference()] = true
		}
	}
	if p.helpers, err = needs(v, kindHelper, helpers, nil); err != nil {
		return nil, err
	}
	if p.kfuncs, err = needs(v, kindKfunc, kfuncs, nil); err != nil {
		return nil, err
	}
	mapType := func(name string) (string, error) {
		m := spec.Maps[name]
		if m == nil {
			return "", fmt.Errorf("map %s is not in the collection", name)
		}
		return m.Type.String(), nil
	}
	if p.maps, err = needs(v, kindMapType, mapNames, mapType); err != nil {
		return nil, err
	}
	return p, nil
}

// needs looks up each name (through rename, when set: map name to type).
func needs(v versions, kind string, names map[string]bool, rename func(string) (string, error)) ([]need, error) {
	seen := map[string]bool{}
	var out []need
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if rename != nil {
			var err error
			if name, err = rename(name); err != nil {
				return nil, err
			}
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		first, err := v.first(kind, name)
		if err != nil {
			return nil, err
		}
		out = append(out, need{kind, name, first})
	}
	slices.SortFunc(out, func(a, b need) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// helperName is the helper's C name: FnSkStorageGet is bpf_sk_storage_get.
func helperName(fn asm.BuiltinFunc) string {
	s := strings.TrimPrefix(fn.String(), "Fn")
	var b strings.Builder
	b.WriteString("bpf")
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i == 0 || !(s[i-1] >= 'A' && s[i-1] <= 'Z') {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func union(a, b []need) []need {
	out := slices.Clone(a)
	for _, n := range b {
		if !slices.ContainsFunc(out, func(m need) bool { return m.name == n.name }) {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b need) int { return strings.Compare(a.name, b.name) })
	return out
}
