// Command mkimage writes a single-layer container image as a docker-archive
// tarball (what `ctr images import` and `docker load` read), from local files:
// the test cluster's images are built here because no registry is reachable.
//
//	mkimage -tag orb8:dev -out orb8.tar -entrypoint /orb8 -libs ./orb8=/orb8
//	mkimage -tag busybox:local -out bb.tar /bin/busybox=/bin/busybox -link /bin/sh=busybox
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var links listFlag
	tag := flag.String("tag", "", "image reference, e.g. registry.k8s.io/pause:3.10")
	out := flag.String("out", "", "docker-archive tarball to write")
	entrypoint := flag.String("entrypoint", "", "entrypoint, space separated")
	libs := flag.Bool("libs", false, "also add the shared libraries the files need (from ldd)")
	flag.Var(&links, "link", "symlink PATH=TARGET (repeatable)")
	flag.Parse()
	if err := run(*tag, *out, *entrypoint, *libs, flag.Args(), links); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(tag, out, entrypoint string, libs bool, files, links []string) error {
	if tag == "" || out == "" || len(files) == 0 {
		return errors.New("need -tag, -out and at least one SRC=DEST file")
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	content := map[string]string{} // image path -> host path
	for _, f := range files {
		src, dst, ok := strings.Cut(f, "=")
		if !ok || !path.IsAbs(dst) {
			return fmt.Errorf("bad file %q: want SRC=/ABSOLUTE/DEST", f)
		}
		content[dst] = src
		if libs {
			deps, err := sharedLibs(src)
			if err != nil {
				return err
			}
			for _, d := range deps {
				content[d] = d
			}
		}
	}
	layerTar, err := buildLayer(content, links)
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
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if entrypoint != "" {
		cfg.Config.Entrypoint = strings.Fields(entrypoint)
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return err
	}
	return tarball.WriteToFile(out, ref, img)
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

// sharedLibs lists the absolute paths of the libraries (and loader) a
// dynamically linked binary needs; a static binary needs none.
func sharedLibs(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %v: %s", bin, err, out)
	}
	var libs []string
	for _, m := range lddPath.FindAllStringSubmatch(string(out), -1) {
		libs = append(libs, m[1])
	}
	return libs, nil
}
