package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/orb8/orb8/internal/cgroup"
)

// scaleTree holds the scale row's cgroups, each with the memory controller,
// as a pod's cgroup has it: on cgroup2 their parent enables it; where it is
// on a v1 hierarchy (hybrid hosts), each has a twin of the same path there,
// as kubelet and container runtimes make, which its process joins.
type scaleTree struct {
	parent   string // in the cgroup2 tree
	v1Parent string // in the v1 memory tree; "" on cgroup2
}

func newScaleTree(name string) (*scaleTree, error) {
	root, err := cgroup.FindMount()
	if err != nil {
		return nil, err
	}
	t := &scaleTree{parent: filepath.Join(root, name)}
	if err := os.Mkdir(t.parent, 0o755); err != nil {
		return nil, err
	}
	if cgroup.HasController(root, "memory") {
		err = os.WriteFile(filepath.Join(t.parent, "cgroup.subtree_control"), []byte("+memory"), 0)
	} else {
		var v1 string
		if v1, err = cgroup.FindV1Mount("memory"); err == nil {
			t.v1Parent = filepath.Join(v1, name)
			err = os.Mkdir(t.v1Parent, 0o755)
		}
	}
	if err != nil {
		os.Remove(t.parent)
		return nil, fmt.Errorf("give the scale cgroups the memory controller: %w", err)
	}
	return t, nil
}

func workloadName(i int) string { return fmt.Sprintf("w%05d", i) }

// add makes workload i's cgroup (and its v1 memory twin) and returns the
// cgroup2 directory.
func (t *scaleTree) add(i int) (string, error) {
	dir := filepath.Join(t.parent, workloadName(i))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	if t.v1Parent != "" {
		if err := os.Mkdir(filepath.Join(t.v1Parent, workloadName(i)), 0o755); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// joinMemory moves workload i's process into its v1 memory twin, if any.
func (t *scaleTree) joinMemory(i, pid int) error {
	if t.v1Parent == "" {
		return nil
	}
	procs := filepath.Join(t.v1Parent, workloadName(i), "cgroup.procs")
	return os.WriteFile(procs, []byte(fmt.Sprint(pid)), 0)
}

// kill kills the processes of the first n workloads.
func (t *scaleTree) kill(n int) {
	for i := range n {
		os.WriteFile(filepath.Join(t.parent, workloadName(i), "cgroup.kill"), []byte("1"), 0)
	}
}

// remove removes the first n workloads' cgroups and the parents, once
// their processes are reaped.
func (t *scaleTree) remove(n int) {
	for _, parent := range []string{t.parent, t.v1Parent} {
		if parent == "" {
			continue
		}
		for i := range n {
			os.Remove(filepath.Join(parent, workloadName(i)))
		}
		os.Remove(parent)
	}
}
