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
	return forEachBatch(m, nCPU, fn, func() error {
		return walk(m, func(key K, perCPU *[]V) { fn(key, *perCPU) })
	})
}

// ForEach is ForEachPerCPU for a map with one value per key; value points
// into a reused buffer, valid during the call only.
func ForEach[K, V any](m *ebpf.Map, fn func(key K, value *V)) error {
	one := func(key K, values []V) { fn(key, &values[0]) }
	return forEachBatch(m, 1, one, func() error { return walk(m, fn) })
}

// forEachBatch reads m in batches of width values per key; walk reads it
// key by key where the kernel has no batch lookups.
func forEachBatch[K, V any](m *ebpf.Map, width int, fn func(key K, values []V), walk func() error) error {
	keys := make([]K, batchSize)
	values := make([]V, batchSize*width)
	var cursor ebpf.MapBatchCursor
	for first := true; ; first = false {
		n, err := m.BatchLookup(&cursor, keys, values, nil)
		for i := range n {
			fn(keys[i], values[i*width:(i+1)*width])
		}
		switch {
		case errors.Is(err, ebpf.ErrKeyNotExist):
			return nil
		case err != nil && first && n == 0:
			return walk()
		case err != nil:
			return err
		}
	}
}

// walk calls fn with every key of m and its value, key by key: the batch
// walks' fallback.
func walk[K, V any](m *ebpf.Map, fn func(key K, value *V)) error {
	var (
		key   K
		value V
	)
	it := m.Iterate()
	for it.Next(&key, &value) {
		fn(key, &value)
	}
	return it.Err()
}
