// Package examples holds the ML examples (scripts and manifests) and the
// test that keeps them valid: the scripts parse as Python, and every
// manifest decodes strictly into the Kubernetes object it claims to be.
package examples

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func TestScriptsParse(t *testing.T) {
	scripts, _ := filepath.Glob("*/*.py")
	if len(scripts) < 3 {
		t.Fatalf("scripts: %v", scripts)
	}
	for _, s := range scripts {
		out, err := exec.Command("python3", "-c", "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])", s).CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", s, err, out)
		}
	}
}

func TestManifestsDecode(t *testing.T) {
	manifests, _ := filepath.Glob("*/*.yaml")
	if len(manifests) < 2 {
		t.Fatalf("manifests: %v", manifests)
	}
	kinds := map[string]func() any{
		"apps/v1 Deployment": func() any { return &appsv1.Deployment{} },
		"batch/v1 Job":       func() any { return &batchv1.Job{} },
		"v1 Service":         func() any { return &corev1.Service{} },
	}
	for _, m := range manifests {
		data, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(data, []byte("\n---\n")) {
			var head struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal(doc, &head); err != nil {
				t.Errorf("%s document %d: %v", m, i, err)
				continue
			}
			newObj, ok := kinds[head.APIVersion+" "+head.Kind]
			if !ok {
				t.Errorf("%s document %d: unexpected %s %s", m, i, head.APIVersion, head.Kind)
				continue
			}
			if err := yaml.UnmarshalStrict(doc, newObj()); err != nil {
				t.Errorf("%s document %d: %v", m, i, err)
			}
			if !strings.Contains(string(doc), "nvidia.com/gpu") && head.Kind != "Service" {
				t.Errorf("%s document %d: asks for no GPU", m, i)
			}
		}
	}
}
