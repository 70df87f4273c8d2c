package testutil

import (
	"testing"

	"github.com/orb8/orb8/internal/cgroup"
)

// Resolver is a resolver of the host's cgroup2 mount (its Root is the
// mount), closed when the test ends. Handing it to an agent that closes it
// too is fine.
func Resolver(t testing.TB) *cgroup.Resolver {
	t.Helper()
	root, err := cgroup.FindMount()
	if err != nil {
		t.Fatal(err)
	}
	res, err := cgroup.NewResolver(root, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	return res
}
