package syscalls

import (
	"strings"
	"testing"
)

func TestTrackedRefusesBadSets(t *testing.T) {
	if _, err := tracked(DefaultOptions().Syscalls); err != nil {
		t.Errorf("default set: %v", err)
	}
	for _, tc := range []struct {
		list []string
		want string
	}{
		{[]string{"openat", "opne"}, `unknown syscall "opne"`},
		{[]string{"exit_group"}, "never returns"},
		{make([]string, MaxTracked+1), "at most 64"},
	} {
		_, err := tracked(tc.list)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("tracked(%q) = %v, want an error with %q", tc.list, err, tc.want)
		}
	}
}
