package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestImageBasesPinnedByDigest: every base image of the Dockerfile names a
// digest, so a rebuild cannot pick up different bytes under the same tag, and
// the image ships its SBOM.
func TestImageBasesPinnedByDigest(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	pinned := regexp.MustCompile(`^FROM (--platform=\S+ )?\S+@sha256:[0-9a-f]{64}( AS \S+)?$`)
	var froms int
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "FROM ") {
			froms++
			if !pinned.MatchString(line) {
				t.Errorf("base image not pinned by digest: %s", line)
			}
		}
	}
	if froms < 2 {
		t.Errorf("%d FROM lines in the Dockerfile, want the build and the runtime stage", froms)
	}
	if !strings.Contains(string(data), "hack/sbom") || !strings.Contains(string(data), "sbom.cdx.json") {
		t.Error("the Dockerfile does not put the SBOM of /orb8 into the image")
	}
}
