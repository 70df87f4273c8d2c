//go:build release

// Package release checks what `make release` ships: it runs hack/release.sh
// into a temporary directory and opens every artefact. hack/test.sh runs it
// (go test -tags release ./test/release) as part of `make test`.
package release

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const version = "0.0.0-releasetest"

// elfMachine is the ELF machine of each release architecture, and bpfArch
// the suffix bpf2go gives its objects.
var (
	elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	bpfArch    = map[string]string{"amd64": "x86", "arm64": "arm64"}
)

func TestMakeRelease(t *testing.T) {
	dist := t.TempDir()
	cmd := exec.Command("hack/release.sh")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "DIST="+dist, "VERSION=v"+version)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hack/release.sh: %v\n%s", err, out)
	}
	t.Logf("make release took %s", time.Since(start).Round(time.Second))

	sums := checkSums(t, dist)
	images := imageLayers(t, filepath.Join(dist, "orb8_"+version+"_image.oci.tar"))
	for arch := range elfMachine {
		name := "orb8_" + version + "_linux_" + arch
		files := untar(t, filepath.Join(dist, name+".tar.gz"))
		checkArchive(t, arch, name, files)
		if !bytes.Equal(files[name+"/sbom.cdx.json"], readFile(t, filepath.Join(dist, name+".sbom.cdx.json"))) {
			t.Errorf("%s.sbom.cdx.json differs from the archive's sbom.cdx.json", name)
		}
		checkImage(t, arch, images[arch], files[name+"/orb8"], files[name+"/sbom.cdx.json"])
	}
	checkKrew(t, dist, sums)
	charts, _ := filepath.Glob(filepath.Join(dist, "orb8-*.tgz"))
	if len(charts) != 1 {
		t.Fatalf("packaged charts: %v, want one", charts)
	}
	chart := untar(t, charts[0])
	if !strings.Contains(string(chart["orb8/Chart.yaml"]), "name: orb8") || chart["orb8/templates/daemonset.yaml"] == nil {
		t.Errorf("%s holds no orb8 chart: %d files", charts[0], len(chart))
	}
}

// checkSums verifies SHA256SUMS against every file in dist, and that it
// lists every file; it returns the sums by file name.
func checkSums(t *testing.T, dist string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, filepath.Join(dist, "SHA256SUMS"))))
	for sc.Scan() {
		sum, file, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		sums[file] = sum
	}
	n := 0
	err := filepath.WalkDir(dist, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "SHA256SUMS" {
			return err
		}
		n++
		rel, _ := filepath.Rel(dist, p)
		h := sha256.Sum256(readFile(t, p))
		if sums[rel] != hex.EncodeToString(h[:]) {
			t.Errorf("%s: sha256 %x, SHA256SUMS says %q", rel, h, sums[rel])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(sums) || n < 7 {
		t.Errorf("%d files in dist, %d in SHA256SUMS", n, len(sums))
	}
	return sums
}

// checkArchive: the binary of the right architecture, built with cgo at
// the release's version; the BPF objects the repository commits for that
// architecture, byte for byte; its SBOM; completions, man pages, deploy/.
func checkArchive(t *testing.T, arch, name string, files map[string][]byte) {
	t.Helper()
	bin := files[name+"/orb8"]
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("%s/orb8: %v", name, err)
	}
	if f.Machine != elfMachine[arch] {
		t.Errorf("%s/orb8 is for %s, want %s", name, f.Machine, elfMachine[arch])
	}
	info, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("%s/orb8: %v", name, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["GOARCH"] != arch || settings["CGO_ENABLED"] != "1" || settings["GOOS"] != "linux" {
		t.Errorf("%s/orb8 build settings %v: want linux/%s with cgo (NVML)", name, settings, arch)
	}
	if !bytes.Contains(bin, []byte(version)) {
		t.Errorf("%s/orb8 does not carry the version %s", name, version)
	}
	if arch == "amd64" { // the machine's own architecture: it runs
		tmp := filepath.Join(t.TempDir(), "orb8")
		if err := os.WriteFile(tmp, bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(tmp, "version").CombinedOutput(); err != nil || !strings.Contains(string(out), version) {
			t.Errorf("%s/orb8 version: %v, %q", name, err, out)
		}
	}

	committed, _ := filepath.Glob("../../internal/probes/*/*_" + bpfArch[arch] + "_bpfel.o")
	if len(committed) < 9 {
		t.Fatalf("only %d committed %s BPF objects", len(committed), arch)
	}
	for _, c := range committed {
		shipped := files[name+"/bpf/"+filepath.Base(c)]
		if !bytes.Equal(shipped, readFile(t, c)) {
			t.Errorf("%s/bpf/%s differs from %s (or is missing)", name, filepath.Base(c), c)
			continue
		}
		o, err := elf.NewFile(bytes.NewReader(shipped))
		if err != nil || o.Machine != elf.EM_BPF || o.ByteOrder.String() != "LittleEndian" {
			t.Errorf("%s/bpf/%s: not a little-endian BPF object (%v)", name, filepath.Base(c), err)
		}
	}
	if n := countUnder(files, name+"/bpf/"); n != len(committed) {
		t.Errorf("%s/bpf holds %d objects, the repository %d", name, n, len(committed))
	}

	var sbom struct {
		Metadata struct {
			Component struct {
				Name, Version string
				Hashes        []struct{ Alg, Content string }
			}
		}
		Components []struct{ Name, Version string }
	}
	if err := json.Unmarshal(files[name+"/sbom.cdx.json"], &sbom); err != nil {
		t.Fatalf("%s/sbom.cdx.json: %v", name, err)
	}
	sum := sha256.Sum256(bin)
	mc := sbom.Metadata.Component
	if mc.Version != version || len(mc.Hashes) != 1 || mc.Hashes[0].Content != hex.EncodeToString(sum[:]) {
		t.Errorf("%s/sbom.cdx.json names %s %s %v, not this binary (sha256 %x)", name, mc.Name, mc.Version, mc.Hashes, sum)
	}
	linked := map[string]bool{}
	for _, c := range sbom.Components {
		linked[c.Name] = true
	}
	for _, m := range []string{"github.com/cilium/ebpf", "k8s.io/client-go", "github.com/NVIDIA/go-nvml", "stdlib"} {
		if !linked[m] {
			t.Errorf("%s/sbom.cdx.json lacks %s", name, m)
		}
	}

	for _, shell := range []string{"bash", "zsh", "fish"} {
		if !bytes.Contains(files[name+"/completion/orb8."+shell], []byte("__complete")) {
			t.Errorf("%s/completion/orb8.%s is no completion script", name, shell)
		}
	}
	for _, p := range []string{"man/man1/orb8.1", "man/man1/orb8-agent.1", "man/man1/orb8-top.1", "deploy/helm/orb8/Chart.yaml", "deploy/orb8.yaml", "README.md", "CHANGELOG.md"} {
		if len(files[name+"/"+p]) == 0 {
			t.Errorf("%s/%s is missing or empty", name, p)
		}
	}
}

// checkKrew: the krew manifest points each platform at its archive, with
// the archive's sha256.
func checkKrew(t *testing.T, dist string, sums map[string]string) {
	t.Helper()
	var m struct {
		Spec struct {
			Version   string
			Platforms []struct {
				Selector struct {
					MatchLabels map[string]string `yaml:"matchLabels"`
				}
				URI, Sha256, Bin string
			}
		}
	}
	if err := yaml.Unmarshal(readFile(t, filepath.Join(dist, "krew", "orb8.yaml")), &m); err != nil {
		t.Fatal(err)
	}
	if m.Spec.Version != "v"+version || len(m.Spec.Platforms) != 2 {
		t.Fatalf("krew manifest: version %q, %d platforms", m.Spec.Version, len(m.Spec.Platforms))
	}
	for _, p := range m.Spec.Platforms {
		archive := path.Base(p.URI)
		if sums[archive] == "" || p.Sha256 != sums[archive] {
			t.Errorf("krew platform %v: sha256 %q, the archive %s has %q", p.Selector.MatchLabels, p.Sha256, archive, sums[archive])
		}
	}
}

// untar reads a .tar.gz into memory, regular files by name.
func untar(t *testing.T, file string) map[string][]byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = data
		}
	}
}

// imageLayers reads the OCI image layout make release writes: one index
// naming a manifest per platform, each with its config (whose architecture
// must match) and one layer. It returns each architecture's layer, as
// entries by path (symlinks as "-> target").
func imageLayers(t *testing.T, file string) map[string]map[string][]byte {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		data, _ := io.ReadAll(tr)
		blobs[strings.TrimPrefix(h.Name, "./")] = data
	}
	type descriptor struct {
		Digest   string
		Platform struct{ OS, Architecture string }
	}
	blob := func(d descriptor) []byte {
		b, ok := blobs["blobs/"+strings.Replace(d.Digest, ":", "/", 1)]
		sum := sha256.Sum256(b)
		if !ok || "sha256:"+hex.EncodeToString(sum[:]) != d.Digest {
			t.Fatalf("%s: blob %s missing or corrupt", file, d.Digest)
		}
		return b
	}
	var index struct{ Manifests []descriptor }
	if err := json.Unmarshal(blobs["index.json"], &index); err != nil {
		t.Fatalf("%s: index.json: %v", file, err)
	}
	out := map[string]map[string][]byte{}
	for _, m := range index.Manifests {
		var manifest struct {
			Config descriptor
			Layers []descriptor
		}
		if err := json.Unmarshal(blob(m), &manifest); err != nil || len(manifest.Layers) != 1 {
			t.Fatalf("%s: manifest %s: %v, %d layers", file, m.Digest, err, len(manifest.Layers))
		}
		var cfg struct {
			OS, Architecture string
			Config           struct{ Entrypoint []string }
		}
		if err := json.Unmarshal(blob(manifest.Config), &cfg); err != nil {
			t.Fatal(err)
		}
		if m.Platform.OS != "linux" || cfg.OS != "linux" || cfg.Architecture != m.Platform.Architecture || strings.Join(cfg.Config.Entrypoint, " ") != "/orb8" {
			t.Errorf("%s: manifest for %+v has config %+v", file, m.Platform, cfg)
		}
		gz, err := gzip.NewReader(bytes.NewReader(blob(manifest.Layers[0])))
		if err != nil {
			t.Fatal(err)
		}
		layer := map[string][]byte{}
		lr := tar.NewReader(gz)
		for {
			h, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(lr)
			if h.Typeflag == tar.TypeSymlink {
				data = []byte("-> " + h.Linkname)
			}
			layer["/"+strings.TrimPrefix(h.Name, "/")] = data
		}
		out[m.Platform.Architecture] = layer
	}
	if len(out) != 2 || out["amd64"] == nil || out["arm64"] == nil {
		t.Fatalf("%s: images for %d platforms, want linux/amd64 and linux/arm64", file, len(out))
	}
	return out
}

// checkImage: the image holds the archive's binary and SBOM, the loader
// the binary names and every library it needs, all for its architecture.
// The host's architecture's image runs: its binary, chrooted into the
// unpacked layer, prints its version.
func checkImage(t *testing.T, arch string, layer map[string][]byte, bin, sbom []byte) {
	t.Helper()
	if !bytes.Equal(layer["/orb8"], bin) || !bytes.Equal(layer["/usr/share/doc/orb8/sbom.cdx.json"], sbom) {
		t.Errorf("image %s: /orb8 or its SBOM is not the archive's", arch)
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	needed, _ := f.ImportedLibraries()
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, _ := io.ReadAll(p.Open())
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if interp == "" || len(needed) == 0 {
		t.Fatalf("image %s: /orb8 names no loader or library (cgo build?)", arch)
	}
	have := func(name string) []byte {
		for p, data := range layer {
			if path.Base(p) == name && len(data) > 0 && !bytes.HasPrefix(data, []byte("-> ")) {
				return data
			}
		}
		return nil
	}
	for _, lib := range append(needed, path.Base(interp)) {
		data := have(lib)
		if data == nil {
			t.Errorf("image %s lacks %s", arch, lib)
			continue
		}
		if lf, err := elf.NewFile(bytes.NewReader(data)); err != nil || lf.Machine != elfMachine[arch] {
			t.Errorf("image %s: %s is not an ELF for %s (%v)", arch, lib, elfMachine[arch], err)
		}
	}
	if layer[interp] == nil {
		t.Errorf("image %s: no loader at %s, where /orb8 looks for it", arch, interp)
	}
	if arch != "amd64" {
		return // nothing here runs arm64 code
	}
	root := t.TempDir()
	for p, data := range layer {
		dst := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := bytes.CutPrefix(data, []byte("-> ")); ok {
			err = os.Symlink(string(target), dst)
		} else if len(data) > 0 || !strings.HasSuffix(p, "/") {
			err = os.WriteFile(dst, data, 0o755)
		}
		if err != nil && !os.IsExist(err) && !strings.HasSuffix(p, "/") {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("chroot", root, "/orb8", "version").CombinedOutput(); err != nil || !strings.Contains(string(out), version) {
		t.Errorf("image amd64: chroot into its layer, /orb8 version: %v, %q", err, out)
	}
}

func countUnder(files map[string][]byte, dir string) int {
	n := 0
	for name := range files {
		if strings.HasPrefix(name, dir) {
			n++
		}
	}
	return n
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
