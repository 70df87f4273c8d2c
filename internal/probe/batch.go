package probe

import (
	"errors"

	"github.com/cilium/ebpf"
)

// batchSize is how many map entries one lookup syscall reads. Hash buckets
// hold far fewer entries, so the kernel never answers ENOSPC.
const batchSize = 256

// ForEachPerCPU calls fn with every key of a per-CPU map and its per-CPU
// values. It reads batchSize entries per BPF_MAP_LOOKUP_BATCH syscall
// instead of two syscalls per key (at 5,000 workloads the key-by-key walk
// was a third of a scrape); kernels without batch lookups get the walk.
// fn must not keep perCPU: the buffer is reused.
func ForEachPerCPU[K, V any](m *ebpf.Map, fn func(key K, perCPU []V)) error {
	nCPU, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	keys := make([]K, batchSize)
	values := make([]V, batchSize*nCPU)
	var cursor ebpf.MapBatchCursor
	for first := true; ; first = false {
		n, err := m.BatchLookup(&cursor, keys, values, nil)
		for i := range n {
			fn(keys[i], values[i*nCPU:(i+1)*nCPU])
		}
		switch {
		case errors.Is(err, ebpf.ErrKeyNotExist):
			return nil
		case err != nil && first && n == 0:
			return walkPerCPU(m, fn)
		case err != nil:
			return err
		}
	}
}

// walkPerCPU is ForEachPerCPU key by key.
func walkPerCPU[K, V any](m *ebpf.Map, fn func(key K, perCPU []V)) error {
	var (
		key    K
		perCPU []V
	)
	it := m.Iterate()
	for it.Next(&key, &perCPU) {
		fn(key, perCPU)
	}
	return it.Err()
}
