package main

import (
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// lintAndPackage lints the chart in dir with Helm's linter, failing on any
// warning or error, then writes its archive into outDir unless it is empty.
func lintAndPackage(dir, namespace, outDir string) error {
	result := lint.All(dir, map[string]any{}, namespace, false)
	var problems []string
	for _, m := range result.Messages {
		if m.Severity >= support.WarningSev {
			problems = append(problems, m.Error())
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("lint %s:\n  %s", dir, strings.Join(problems, "\n  "))
	}
	if outDir == "" {
		return nil
	}
	chart, err := loader.Load(dir)
	if err != nil {
		return err
	}
	path, err := chartutil.Save(chart, outDir)
	if err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}
