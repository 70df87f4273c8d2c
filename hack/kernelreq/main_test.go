package main

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/probe"
)

const repo = "../.."

func TestPageIsCurrent(t *testing.T) {
	page, err := generate(repo, agent.ProbeFamilies())
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(repo, "docs", "kernel-requirements.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(page, committed) {
		t.Fatal("docs/kernel-requirements.md differs from what the BPF objects and probe.Programs give: run make generate and commit it")
	}
}

// Every helper a probe's C source calls (itself, or in the body of a
// macro of the shared headers it uses), and every kfunc it reaches (by
// name, or through a macro of the shared headers), is in the probe's table.
func TestTablesListWhatTheCSourceCalls(t *testing.T) {
	v := readTestVersions(t)
	kfuncMacros := kfuncsBehindMacros(t)
	bodies := macroBodies(t)
	called := regexp.MustCompile(`\b((?:bpf|orb8)_\w+)\s*\(`)
	for _, p := range agent.ProbeFamilies() {
		f, err := read(repo, p, v)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(repo, strings.TrimPrefix(p.Package, module))
		sources, _ := filepath.Glob(filepath.Join(dir, "*.bpf.c"))
		headers, _ := filepath.Glob(filepath.Join(dir, "bpf", "*.h"))
		if len(sources) == 0 {
			if len(f.programs) > 0 {
				t.Errorf("%s: programs but no C source in %s", p.Name, dir)
			}
			continue
		}
		helpers, kfuncs := map[string]bool{}, map[string]bool{}
		for _, pr := range f.programs {
			for _, n := range pr.helpers {
				helpers[n.name] = true
			}
			for _, n := range pr.kfuncs {
				kfuncs[n.name] = true
			}
		}
		checked := 0
		for _, path := range append(sources, headers...) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			text := string(src)
			for name, body := range bodies {
				if strings.Contains(text, name+"(") {
					text += "\n" + body
				}
			}
			for _, m := range called.FindAllStringSubmatch(text, -1) {
				name := m[1]
				if _, err := v.first(kindHelper, name); err == nil && strings.HasPrefix(name, "bpf_") {
					checked++
					if !helpers[name] {
						t.Errorf("%s: %s calls helper %s; the table lists %v", p.Name, filepath.Base(path), name, slices.Sorted(maps.Keys(helpers)))
					}
				}
				for _, k := range append([]string{name}, kfuncMacros[name]...) {
					if _, err := v.first(kindKfunc, k); err == nil && !kfuncs[k] {
						t.Errorf("%s: %s calls kfunc %s (as %s); the table lists %v", p.Name, filepath.Base(path), k, name, slices.Sorted(maps.Keys(kfuncs)))
					}
				}
			}
		}
		if checked == 0 {
			t.Errorf("%s: no helper call found in its C source", p.Name)
		}
	}
}

// macroBodies maps each function-like macro of the shared headers to its
// body, continuation lines joined.
func macroBodies(t *testing.T) map[string]string {
	headers, _ := filepath.Glob(filepath.Join(repo, "internal", "bpf", "include", "orb8*.h"))
	define := regexp.MustCompile(`(?m)^#define (\w+)\((?:.*\\\n)*.*$`)
	out := map[string]string{}
	for _, path := range headers {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range define.FindAllStringSubmatch(string(src), -1) {
			out[d[1]] = d[0]
		}
	}
	return out
}

// kfuncsBehindMacros maps each macro of the shared headers to the kfuncs
// (extern ... __ksym) its body calls.
func kfuncsBehindMacros(t *testing.T) map[string][]string {
	headers, _ := filepath.Glob(filepath.Join(repo, "internal", "bpf", "include", "orb8*.h"))
	ksym := regexp.MustCompile(`extern [^;(]*?\b(\w+)\s*\([^;]*\)\s*__ksym`)
	define := regexp.MustCompile(`(?m)^#define (\w+)\(.*$`)
	out := map[string][]string{}
	for _, path := range headers {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ksym.FindAllStringSubmatch(string(src), -1) {
			for _, d := range define.FindAllStringSubmatch(string(src), -1) {
				if strings.Contains(d[0], k[1]+"(") {
					out[d[1]] = append(out[d[1]], k[1])
				}
			}
		}
	}
	if len(out) == 0 {
		t.Log("no kfunc behind a macro in the shared headers")
	}
	return out
}

func TestUnknownFeaturesFail(t *testing.T) {
	prog := func(section string, typ ebpf.ProgramType, insns ...asm.Instruction) *ebpf.CollectionSpec {
		return &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{"p": {
			Name: "p", Type: typ, SectionName: section, License: "GPL",
			Instructions: append(insns, asm.Mov.Imm(asm.R0, 0), asm.Return()),
		}}}
	}
	v, err := readVersions(strings.NewReader(`
prog_type tracing 5.5 x
hook tp_btf 5.5 x
hook iter/task 5.8 x
helper bpf_map_lookup_elem 3.19 x
helper bpf_loop 5.17 x
`))
	if err != nil {
		t.Fatal(err)
	}
	sorted := probe.Programs{Required: []string{"p"}}
	got, err := analyze([]*ebpf.CollectionSpec{prog("iter/task", ebpf.Tracing, asm.FnLoop.Call(), asm.FnMapLookupElem.Call())}, sorted, v)
	if err != nil {
		t.Fatal(err)
	}
	if h := got[0].helpers; len(h) != 2 || h[0].name != "bpf_loop" || h[1].name != "bpf_map_lookup_elem" {
		t.Fatalf("helpers %v, want bpf_loop and bpf_map_lookup_elem", h)
	}
	if m := got[0].minimum(); m.first != (version{5, 17}) || m.name != "bpf_loop" {
		t.Fatalf("minimum %v, want 5.17 from bpf_loop", m)
	}
	for name, spec := range map[string]*ebpf.CollectionSpec{
		"helper":    prog("tp_btf/sched_switch", ebpf.Tracing, asm.FnTaskStorageGet.Call()),
		"hook":      prog("iter/tcp", ebpf.Tracing),
		"prog type": prog("tp_btf/sched_switch", ebpf.Kprobe),
	} {
		if _, err := analyze([]*ebpf.CollectionSpec{spec}, sorted, v); err == nil || !strings.Contains(err.Error(), "versions.txt") {
			t.Errorf("unknown %s: error %v, want one that names versions.txt", name, err)
		}
	}
	if _, err := analyze([]*ebpf.CollectionSpec{prog("tp_btf/x", ebpf.Tracing)}, probe.Programs{}, v); err == nil {
		t.Error("a program its probe does not sort was accepted")
	}
}

func TestHelperName(t *testing.T) {
	for fn, want := range map[asm.BuiltinFunc]string{
		asm.FnSkcToTcp6Sock:      "bpf_skc_to_tcp6_sock",
		asm.FnGetCurrentUidGid:   "bpf_get_current_uid_gid",
		asm.FnKtimeGetBootNs:     "bpf_ktime_get_boot_ns",
		asm.FnProbeReadKernelStr: "bpf_probe_read_kernel_str",
		asm.FnJiffies64:          "bpf_jiffies64",
	} {
		if got := helperName(fn); got != want {
			t.Errorf("helperName(%v) = %s, want %s", fn, got, want)
		}
	}
}

// The table's helper rows name every helper cilium/ebpf knows, so that a
// probe calling any of them gets a version.
func TestVersionsCoverEveryHelper(t *testing.T) {
	v := readTestVersions(t)
	n := 0
	for fn := asm.FnMapLookupElem; !strings.HasPrefix(fn.String(), "BuiltinFunc("); fn++ {
		if _, err := v.first(kindHelper, helperName(fn)); err != nil {
			t.Error(err)
		}
		n++
	}
	if n < 200 {
		t.Fatalf("only %d helpers checked", n)
	}
}

func readTestVersions(t *testing.T) versions {
	t.Helper()
	v, err := readVersions(bytes.NewReader(versionsTxt))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A probe whose Programs name a program its objects lack, and an object no
// probe of the catalogue owns, both fail the generator.
func TestCatalogueAndObjectsMustAgree(t *testing.T) {
	families := agent.ProbeFamilies()
	stale := slices.Clone(families)
	for i, f := range stale {
		if len(f.Programs.Required) > 0 {
			f.Programs.Required = append(slices.Clone(f.Programs.Required), "no_such_program")
			stale[i] = f
			break
		}
	}
	if _, err := generate(repo, stale); err == nil || !strings.Contains(err.Error(), "no_such_program") {
		t.Errorf("a program declared but not in the objects: error %v", err)
	}
	if _, err := generate(repo, families[1:]); err == nil || !strings.Contains(err.Error(), "objects of no probe") {
		t.Errorf("an object of no probe: error %v", err)
	}
}
