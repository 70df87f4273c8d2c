// Command helmtemplate renders a Helm chart the way `helm template` does,
// with Helm's own engine (helm.sh/helm/v3), for machines without the helm
// binary: hack/cluster.sh deploy installs its output and CI checks that the
// plain manifests under deploy/ match it. With -lint it lints the chart as
// `helm lint --strict` does, and with -package DIR it also writes the chart
// archive `helm package` would (make release).
//
//	helmtemplate [-n NAMESPACE] [--name RELEASE] [-f values.yaml]... [--set k=v]... CHART_DIR
//	helmtemplate -lint [-package DIR] CHART_DIR
package main

import (
	"flag"
	"fmt"
	"os"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var files, sets listFlag
	namespace := flag.String("n", "orb8", "release namespace")
	release := flag.String("name", "orb8", "release name")
	flag.Var(&files, "f", "values file (repeatable)")
	flag.Var(&sets, "set", "value KEY=VALUE (repeatable)")
	lintOnly := flag.Bool("lint", false, "lint the chart (warnings fail, as with helm lint --strict) instead of rendering it")
	packageDir := flag.String("package", "", "with -lint: write the chart archive NAME-VERSION.tgz into this directory")
	flag.Parse()
	if *lintOnly && flag.NArg() == 1 {
		if err := lintAndPackage(flag.Arg(0), *namespace, *packageDir); err != nil {
			fmt.Fprintln(os.Stderr, "helmtemplate:", err)
			os.Exit(1)
		}
		return
	}
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: helmtemplate [-n NAMESPACE] [-name RELEASE] [-f values.yaml]... [-set k=v]... CHART_DIR")
		os.Exit(2)
	}
	out, err := render(flag.Arg(0), *release, *namespace, files, sets)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helmtemplate:", err)
		os.Exit(1)
	}
	fmt.Print(out)
}

func render(dir, release, namespace string, files, sets []string) (string, error) {
	chart, err := loader.Load(dir)
	if err != nil {
		return "", err
	}
	vals := map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		m := map[string]any{}
		if err := yaml.Unmarshal(data, &m); err != nil {
			return "", fmt.Errorf("%s: %w", f, err)
		}
		vals = chartutil.CoalesceTables(m, vals)
	}
	for _, s := range sets {
		if err := strvals.ParseInto(s, vals); err != nil {
			return "", fmt.Errorf("--set %s: %w", s, err)
		}
	}
	opts := chartutil.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}
	top, err := chartutil.ToRenderValues(chart, vals, opts, chartutil.DefaultCapabilities)
	if err != nil {
		return "", err
	}
	rendered, err := engine.Render(chart, top)
	if err != nil {
		return "", err
	}
	// Like `helm template`: split documents, drop NOTES.txt and empty ones, and order by kind so one `kubectl apply` creates the
	// namespace before what lives in it.
	for name := range rendered {
		if path.Ext(name) != ".yaml" {
			delete(rendered, name)
		}
	}
	_, manifests, err := releaseutil.SortManifests(rendered, chartutil.DefaultVersionSet, releaseutil.InstallOrder)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, strings.TrimSpace(m.Content))
	}
	return b.String(), nil
}
