package probe

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// Forgetter is implemented by probes that keep per-cgroup state in user
// space; the agent calls Forget for cgroups gone longer than the grace
// period. Kernel state is Objects.Forget's.
type Forgetter interface {
	Forget(cgroupIDs []uint64)
}

// Forget deletes the entries of gone cgroups from the maps that
// LoadOptions.PerCgroup names, whose keys begin with a cgroup id (the id
// itself, or a struct whose first field it is). The agent calls it for
// cgroups gone longer than the grace period.
func (o *Objects) Forget(cgroupIDs []uint64) error {
	var errs []error
	for _, m := range o.perCgroup {
		if m.KeySize() == 8 {
			for _, id := range cgroupIDs {
				errs = append(errs, deleted(m.Delete(id)))
			}
			continue
		}
		errs = append(errs, deleteKeysOf(m, cgroupIDs))
	}
	return errors.Join(errs...)
}

// deleteKeysOf deletes the keys of a map whose keys begin with a cgroup id.
func deleteKeysOf(m *ebpf.Map, cgroupIDs []uint64) error {
	gone := make(map[uint64]bool, len(cgroupIDs))
	for _, id := range cgroupIDs {
		gone[id] = true
	}
	// Deleting while walking restarts a hash walk: collect first.
	var (
		keys [][]byte
		prev any // nil: the first key
	)
	for {
		k, err := m.NextKeyBytes(prev)
		if err != nil {
			return fmt.Errorf("forget cgroups in %s: %w", m, err)
		}
		if k == nil {
			break
		}
		if gone[binary.NativeEndian.Uint64(k)] {
			keys = append(keys, k)
		}
		prev = k
	}
	var errs []error
	for _, k := range keys {
		errs = append(errs, deleted(m.Delete(k)))
	}
	return errors.Join(errs...)
}

// deleted is a delete's error, but for a key already gone.
func deleted(err error) error {
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	return err
}
