// Command mkimage writes a single-layer container image as a docker-archive
// tarball (what `ctr images import` and `docker load` read), from local files:
// the test cluster's images are built here because no registry is reachable.
// With -layout it adds the image, for -arch, to an OCI image layout instead,
// whose index then names one image per platform (make release's multi-arch
// image).
//
//	mkimage -tag orb8:dev -out orb8.tar -entrypoint /orb8 -libs ./orb8=/orb8
//	mkimage -tag busybox:local -out bb.tar /bin/busybox=/bin/busybox -link /bin/sh=busybox
//	mkimage -tag orb8:1.0 -layout img -arch arm64 -sysroot /usr/aarch64-linux-gnu -libs ./orb8=/orb8
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// options say what image to make and where to write it.
type options struct {
	tag, out, layout, entrypoint, arch, sysroot string
	libs                                        bool
	files, links                                []string
}

func main() {
	var o options
	var links listFlag
	flag.StringVar(&o.tag, "tag", "", "image reference, e.g. registry.k8s.io/pause:3.10")
	flag.StringVar(&o.out, "out", "", "docker-archive tarball to write")
	flag.StringVar(&o.layout, "layout", "", "OCI image layout directory to add the image to (created if missing), instead of -out")
	flag.StringVar(&o.entrypoint, "entrypoint", "", "entrypoint, space separated")
	flag.StringVar(&o.arch, "arch", "amd64", "the image's architecture (GOARCH)")
	flag.StringVar(&o.sysroot, "sysroot", "", "with -libs: find the libraries under this root (a cross toolchain's, e.g. /usr/aarch64-linux-gnu) from the ELF headers, instead of ldd")
	flag.BoolVar(&o.libs, "libs", false, "also add the shared libraries the files need (from ldd)")
	flag.Var(&links, "link", "symlink PATH=TARGET (repeatable)")
	flag.Parse()
	o.files, o.links = flag.Args(), links
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.tag == "" || (o.out == "") == (o.layout == "") || len(o.files) == 0 {
		return errors.New("need -tag, one of -out and -layout, and at least one SRC=DEST file")
	}
	ref, err := name.NewTag(o.tag)
	if err != nil {
		return err
	}
	content := map[string]string{} // image path -> host path
	for _, f := range o.files {
		src, dst, ok := strings.Cut(f, "=")
		if !ok || !path.IsAbs(dst) {
			return fmt.Errorf("bad file %q: want SRC=/ABSOLUTE/DEST", f)
		}
		content[dst] = src
		if o.libs {
			deps, err := sharedLibs(src, o.sysroot)
			if err != nil {
				return err
			}
			maps.Copy(content, deps)
		}
	}
	layerTar, err := buildLayer(content, o.links)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil })
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", o.arch
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if o.entrypoint != "" {
		cfg.Config.Entrypoint = strings.Fields(o.entrypoint)
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return err
	}
	if o.out != "" {
		return tarball.WriteToFile(o.out, ref, img)
	}
	return addToLayout(o.layout, ref, o.arch, img)
}

// addToLayout appends img to the OCI image layout at dir under platform
// linux/arch, creating the layout when there is none.
func addToLayout(dir string, ref name.Tag, arch string, img v1.Image) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return err
		}
	}
	return p.AppendImage(img, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: arch}),
		layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref.String()}))
}

// buildLayer tars the files (with their parent directories) and symlinks.
func buildLayer(content map[string]string, links []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	addDirs := func(p string) error {
		var parents []string
		for d := path.Dir(p); d != "/" && !dirs[d]; d = path.Dir(d) {
			parents = append(parents, d)
			dirs[d] = true
		}
		for i := len(parents) - 1; i >= 0; i-- {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: parents[i][1:] + "/", Mode: 0o755}); err != nil {
				return err
			}
		}
		return nil
	}
	dsts := make([]string, 0, len(content))
	for dst := range content {
		dsts = append(dsts, dst)
	}
	sort.Strings(dsts) // reproducible layers
	for _, dst := range dsts {
		data, err := os.ReadFile(content[dst])
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(content[dst])
		if err != nil {
			return nil, err
		}
		if err := addDirs(dst); err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: dst[1:], Mode: int64(st.Mode().Perm()), Size: int64(len(data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	for _, l := range links {
		p, target, ok := strings.Cut(l, "=")
		if !ok || !path.IsAbs(p) {
			return nil, fmt.Errorf("bad link %q: want /PATH=TARGET", l)
		}
		if _, isFile := content[p]; isFile { // a file of the same name wins
			continue
		}
		if err := addDirs(p); err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: p[1:], Linkname: target, Mode: 0o777}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var lddPath = regexp.MustCompile(`(/\S+) \(0x`)

// sharedLibs maps the image paths of the libraries (and loader) a
// dynamically linked binary needs to their host paths; a static binary
// needs none. Without a sysroot ldd finds them, at the same paths; with one
// (a foreign architecture's, where ldd cannot run the loader) they are read
// from the ELF headers and found under the sysroot.
func sharedLibs(bin, sysroot string) (map[string]string, error) {
	if sysroot != "" {
		return sysrootLibs(bin, sysroot)
	}
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %v: %s", bin, err, out)
	}
	libs := map[string]string{}
	for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
		libs[m[1]] = m[1]
	}
	return libs, nil
}

// sysrootLibs follows DT_NEEDED from bin through the libraries under
// sysroot/lib, and places them where Debian's loader for that architecture
// looks (/lib/<multiarch triplet>/), with the loader at the path the binary
// names (PT_INTERP).
func sysrootLibs(bin, sysroot string) (map[string]string, error) {
	triplet := filepath.Base(sysroot) // e.g. aarch64-linux-gnu
	libs := map[string]string{}
	queue := []string{bin}
	for len(queue) > 0 {
		f, err := elf.Open(queue[0])
		var notELF *elf.FormatError
		if errors.As(err, &notELF) && queue[0] == bin {
			return nil, nil // a data file needs no library
		}
		if err != nil {
			return nil, err
		}
		queue = queue[1:]
		for _, p := range f.Progs {
			if p.Type != elf.PT_INTERP {
				continue
			}
			interp, err := io.ReadAll(p.Open())
			if err != nil {
				f.Close()
				return nil, err
			}
			dst := strings.TrimRight(string(interp), "\x00")
			libs[dst] = filepath.Join(sysroot, "lib", path.Base(dst))
		}
		needed, err := f.ImportedLibraries()
		f.Close()
		if err != nil {
			return nil, err
		}
		for _, n := range needed {
			dst := "/lib/" + triplet + "/" + n
			if _, done := libs[dst]; done {
				continue
			}
			src := filepath.Join(sysroot, "lib", n)
			if _, err := os.Stat(src); err != nil {
				return nil, fmt.Errorf("%s needs %s: %w", bin, n, err)
			}
			libs[dst] = src
			queue = append(queue, src)
		}
	}
	return libs, nil
}
