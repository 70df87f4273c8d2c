// Command kernelreq writes docs/kernel-requirements.md: per probe, what each
// BPF program needs from the kernel (program type, hook, helpers, kfuncs,
// map types), read from the committed objects, with the first Linux release
// that has each (versions.txt) and what the probe loses without the program
// (the probe's probe.Programs); and the kernel builds met (builds.txt).
//
//	go run ./hack/kernelreq -out docs/kernel-requirements.md
package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/orb8/orb8/internal/agent"
)

const module = "github.com/orb8/orb8/"

var (
	//go:embed versions.txt
	versionsTxt []byte
	//go:embed builds.txt
	buildsTxt []byte
)

func main() {
	root := flag.String("root", ".", "the repository's root")
	out := flag.String("out", "docs/kernel-requirements.md", "the page to write, relative to -root")
	flag.Parse()
	page, err := generate(*root, agent.ProbeFamilies())
	if err == nil {
		err = os.WriteFile(filepath.Join(*root, *out), page, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kernelreq:", err)
		os.Exit(1)
	}
}

// generate renders the page for the probes, from the objects under root.
func generate(root string, probes []agent.ProbeFamily) ([]byte, error) {
	v, err := readVersions(bytes.NewReader(versionsTxt))
	if err != nil {
		return nil, fmt.Errorf("versions.txt: %w", err)
	}
	builds, err := readBuilds(buildsTxt)
	if err != nil {
		return nil, fmt.Errorf("builds.txt: %w", err)
	}
	all, err := filepath.Glob(filepath.Join(root, "internal", "*", "*", "*_bpfe[lb].o"))
	if err != nil {
		return nil, err
	}
	var families []family
	for _, p := range probes {
		f, err := read(root, p, v)
		if err != nil {
			return nil, fmt.Errorf("probe %s: %w", p.Name, err)
		}
		for _, o := range f.objects {
			all = slices.DeleteFunc(all, func(path string) bool { return path == filepath.Join(root, o) })
		}
		families = append(families, f)
	}
	if len(all) > 0 {
		return nil, fmt.Errorf("objects of no probe in the agent's catalogue: %v", all)
	}
	var page bytes.Buffer
	err = render(&page, families, builds)
	return page.Bytes(), err
}

// read analyses the objects in the probe's package directory.
func read(root string, p agent.ProbeFamily, v versions) (family, error) {
	f := family{name: p.Name, sorted: p.Programs}
	dir, ok := strings.CutPrefix(p.Package, module)
	if !ok {
		return f, fmt.Errorf("package %s is outside %s", p.Package, module)
	}
	paths, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(dir), "*_bpfe[lb].o"))
	if err != nil {
		return f, err
	}
	var specs []*ebpf.CollectionSpec
	for _, path := range paths {
		spec, err := ebpf.LoadCollectionSpec(path)
		if err != nil {
			return f, err
		}
		specs = append(specs, spec)
		rel, _ := filepath.Rel(root, path)
		f.objects = append(f.objects, filepath.ToSlash(rel))
	}
	if f.programs, err = analyze(specs, p.Programs, v); err != nil {
		return f, err
	}
	declared := append(slices.Clone(p.Programs.Required), slices.Collect(maps.Keys(p.Programs.Optional))...)
	for _, instead := range p.Programs.Fallback {
		declared = append(declared, instead...)
	}
	for _, name := range declared {
		if !slices.ContainsFunc(f.programs, func(pr program) bool { return pr.name == name }) {
			return f, fmt.Errorf("its probe.Programs names %s, which none of its objects (%v) has", name, f.objects)
		}
	}
	return f, nil
}

// readBuilds parses builds.txt: "build hook how...", with # comments.
func readBuilds(data []byte) ([]refusal, error) {
	var out []refusal
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("line %d: want build, hook and how it fails", n)
		}
		out = append(out, refusal{f[0], f[1], strings.Join(f[2:], " ")})
	}
	if len(out) == 0 {
		return nil, errors.New("no builds")
	}
	return out, sc.Err()
}
