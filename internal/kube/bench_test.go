package kube

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/kube/kubetest"
	"github.com/orb8/orb8/internal/testutil"
)

// benchPods creates n pods bound to node (no kubelet serves it) with one
// container each and their status, plus the matching cgroup2 directories,
// and returns the cgroup ids.
func benchPods(b *testing.B, f *kubetest.Fixture, node string, n int) []uint64 {
	b.Helper()
	root, err := cgroup.FindMount()
	if err != nil {
		b.Fatal(err)
	}
	parent := filepath.Join(root, "kubepods-"+node)
	b.Cleanup(func() { removeTree(parent) })
	ns := f.Namespace(nil)
	ids := make([]uint64, n)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				cid := kubetest.ContainerID()
				p := f.Pod(ns, fmt.Sprintf("pod-%05d", i), node, map[string]string{"app": "bench"}, "", map[string]string{"main": cid})
				dir := filepath.Join(parent, "pod"+string(p.UID), cid)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					b.Error(err)
					continue
				}
				var st syscall.Stat_t
				if err := syscall.Stat(dir, &st); err != nil {
					b.Error(err)
				}
				ids[i] = st.Ino
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return ids
}

func removeTree(dir string) {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i])
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkResolverWithPods: the resolver + Kubernetes enricher for a node
// with N pods (pod objects in a real API server, one container cgroup each).
// Reports the heap the watcher and resolver hold per pod and in all, and the
// cost of one Lookup (what every event and every scraped series pays).
func BenchmarkResolverWithPods(b *testing.B) {
	testutil.RequireRoot(b)
	f := kubetest.NewFixture(b)
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			node := kubetest.Uniq("bench")
			ids := benchPods(b, f, node, n)
			root, _ := cgroup.FindMount()

			before := heapInUse()
			w, err := New(kubetest.Shared.Config(), Options{NodeName: node, Grace: time.Minute, SyncTimeout: 5 * time.Minute}, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			w.Start(b.Context())
			defer w.Close()
			if w.Pods() != n {
				b.Fatalf("watcher has %d pods, want %d", w.Pods(), n)
			}
			watcherBytes := heapInUse() - before
			before = heapInUse()
			r, err := cgroup.NewResolver(root, 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			resolverBytes := int64(heapInUse()) - int64(before)
			r.SetEnricher(w)
			if got := r.Lookup(ids[0]); got.Pod == "" || got.Container != "main" {
				b.Fatalf("lookup of a pod cgroup: %+v", got)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			order := make([]uint64, 4096)
			for i := range order {
				order[i] = ids[rng.IntN(len(ids))]
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				r.Lookup(order[i%len(order)])
			}
			b.StopTimer()
			b.ReportMetric(float64(watcherBytes)/float64(n), "watcher-B/pod")
			b.ReportMetric(float64(watcherBytes)/(1<<20), "watcher-MiB")
			b.ReportMetric(float64(resolverBytes)/(1<<20), "resolver-MiB")
			_ = f.Client.CoreV1().Namespaces().Delete(b.Context(), podNamespace(w), metav1.DeleteOptions{})
		})
	}
}

// podNamespace is the namespace of the watcher's pods (benchPods uses one).
func podNamespace(w *Watcher) string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	for _, p := range w.pods {
		return p.namespace
	}
	return ""
}
