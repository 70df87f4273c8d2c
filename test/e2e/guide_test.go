//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// shBlockRE is a fenced block of shell commands: the commands a guide
// tells the reader to run (output and examples use other info strings).
var shBlockRE = regexp.MustCompile("(?ms)^```sh\n(.*?)^```\n")

// guideCommands is every sh block of a guide, in order.
func guideCommands(t *testing.T, path string) string {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	for _, m := range shBlockRE.FindAllStringSubmatch(string(doc), -1) {
		script.WriteString(m[1])
	}
	if script.Len() == 0 {
		t.Fatalf("%s has no sh block", path)
	}
	return script.String()
}

// kubectlDir is where the cluster's kubectl is (built and cached by
// hack/lib/k8s-binaries.sh).
func kubectlDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("ORB8_K8S_BIN"); dir != "" {
		return dir
	}
	out, err := exec.Command("../../hack/lib/k8s-binaries.sh").Output()
	if err != nil {
		t.Fatalf("hack/lib/k8s-binaries.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestClusterKubeadmGuide runs every command of docs/install/kubeadm.md,
// unchanged and in order, against the test cluster, then puts the agent
// hack/cluster.sh deployed back for the other tests.
func TestClusterKubeadmGuide(t *testing.T) {
	newCluster(t)
	manifests, err := os.ReadFile("../../deploy/orb8.yaml")
	if err != nil {
		t.Fatal(err)
	}
	image := regexp.MustCompile(`(?m)^\s+image: "([^"]+)"`).FindSubmatch(manifests)
	if image == nil {
		t.Fatal("deploy/orb8.yaml names no image")
	}
	// The guide installs the agent itself, with Helm: what hack/cluster.sh
	// deployed goes first (Helm adopts no object it did not make).
	if out, err := exec.Command("../../hack/cluster.sh", "undeploy").CombinedOutput(); err != nil {
		t.Fatalf("cluster.sh undeploy: %v\n%s", err, out)
	}
	// No registry here: the image built from this tree stands in for the release's.
	if out, err := exec.Command("../../hack/cluster.sh", "alias-image", string(image[1])).CombinedOutput(); err != nil {
		t.Fatalf("alias-image %s: %v\n%s", image[1], err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("../../hack/cluster.sh", "deploy").CombinedOutput(); err != nil {
			t.Errorf("redeploy the test agent: %v\n%s", err, out)
		}
	})

	cmd := exec.Command("bash", "-euxo", "pipefail", "-c", guideCommands(t, "../../docs/install/kubeadm.md"))
	cmd.Dir = "../.."
	// A fresh HOME for what the guide installs; Go keeps its caches.
	goEnv, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Fatal(err)
	}
	goDirs := strings.Fields(string(goEnv))
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "PATH="+kubectlDir(t)+string(filepath.ListSeparator)+os.Getenv("PATH"),
		"GOCACHE="+goDirs[0], "GOMODCACHE="+goDirs[1], "GOPATH="+goDirs[2])
	out, err := cmd.CombinedOutput()
	t.Logf("the guide's commands:\n%s", out)
	if err != nil {
		t.Fatalf("a command of the guide failed: %v", err)
	}
	for what, re := range map[string]string{
		"BTF on the node":                     `(?m)^BTF: yes$`,
		"the process probe up in the metrics": `(?m)^orb8_probe_up\{probe="process"\} 1$`,
		"the process probe up in orb8 status": `(?m)^process\s+yes\s`,
		"the agent's pod among the workloads": `(?m)^\S+\s+orb8\s+orb8-\S+\s+agent\s`,
		"the release gone after the removal":  `release "orb8" uninstalled`,
	} {
		if !regexp.MustCompile(re).Match(out) {
			t.Errorf("the guide's output lacks %s (%s)", what, re)
		}
	}
}
