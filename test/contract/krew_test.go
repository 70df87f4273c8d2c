package contract

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestKrewManifest: deploy/krew/orb8.yaml names the plugin orb8 (kubectl
// runs it as kubectl-orb8) for linux/amd64 and linux/arm64, each pointing at
// the binary inside the archive hack/release.sh writes.
func TestKrewManifest(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/krew/orb8.yaml")
	if err != nil {
		t.Fatal(err)
	}
	release, err := os.ReadFile("../../hack/release.sh")
	if err != nil {
		t.Fatal(err)
	}
	filled := strings.NewReplacer("{{VERSION}}", "1.2.3", "{{SHA256_linux_amd64}}", "a", "{{SHA256_linux_arm64}}", "b").Replace(string(raw))
	var m struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string
		Metadata   struct{ Name string }
		Spec       struct {
			Version   string
			Platforms []struct {
				Selector struct {
					MatchLabels map[string]string `yaml:"matchLabels"`
				}
				URI, Sha256, Bin string
			}
		}
	}
	if err := yaml.Unmarshal([]byte(filled), &m); err != nil {
		t.Fatal(err)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "orb8" || m.Spec.Version != "v1.2.3" {
		t.Errorf("header: %+v", m)
	}
	if !strings.Contains(string(release), "name=orb8_${VERSION}_linux_$arch") {
		t.Fatal("hack/release.sh no longer names archives orb8_<version>_linux_<arch>: update the krew manifest")
	}
	arches := map[string]bool{}
	for _, p := range m.Spec.Platforms {
		arch := p.Selector.MatchLabels["arch"]
		arches[arch] = true
		dir := "orb8_1.2.3_linux_" + arch
		if p.Selector.MatchLabels["os"] != "linux" || p.Bin != dir+"/orb8" || !strings.HasSuffix(p.URI, "/"+dir+".tar.gz") || p.Sha256 == "" {
			t.Errorf("platform %s: %+v", arch, p)
		}
	}
	if !arches["amd64"] || !arches["arm64"] || len(arches) != 2 {
		t.Errorf("platforms %v, want amd64 and arm64", arches)
	}
}
