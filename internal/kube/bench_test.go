package kube

import (
	"context"
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

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/kube/kubetest"
	"github.com/orb8/orb8/internal/testutil"
)

// benchPods creates n pods bound to node (no kubelet serves it) with one
// container each and their status, plus the matching cgroup2 directories,
// and returns the cgroup ids. Writers run in parallel and retry what the API
// server refuses or times out (a loaded 2-CPU machine does both); the first
// error that outlasts the retries stops them all and fails b.
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
	ctx, cancel := context.WithCancelCause(b.Context())
	defer cancel(nil)
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range work {
				id, err := benchPod(ctx, f.Client, ns, fmt.Sprintf("pod-%05d", i), node, parent)
				if err != nil {
					cancel(err)
					return
				}
				ids[i] = id
			}
		})
	}
feed:
	for i := range n {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		b.Fatal(err)
	}
	return ids
}

// apiBackoff spaces retries of one API call over about 25 s.
var apiBackoff = wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 9, Cap: 5 * time.Second}

// benchPod creates one pod with its status and its container's cgroup
// directory under parent, and returns the cgroup id.
func benchPod(ctx context.Context, c kubernetes.Interface, ns, name, node, parent string) (uint64, error) {
	cid := kubetest.ContainerID()
	containers := map[string]string{"main": cid}
	pods := c.CoreV1().Pods(ns)
	retriable := func(error) bool { return ctx.Err() == nil }
	var p *corev1.Pod
	err := retry.OnError(apiBackoff, retriable, func() (err error) {
		p, err = pods.Create(ctx, kubetest.PodObject(ns, name, node, map[string]string{"app": "bench"}, containers), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) { // a try whose answer was lost made it
			p, err = pods.Get(ctx, name, metav1.GetOptions{})
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("create pod %s: %w", name, err)
	}
	err = retry.OnError(apiBackoff, retriable, func() error {
		updated, err := pods.UpdateStatus(ctx, kubetest.WithStatus(p, "", containers, nil), metav1.UpdateOptions{})
		if apierrors.IsConflict(err) { // a try whose answer was lost changed it
			if cur, gerr := pods.Get(ctx, name, metav1.GetOptions{}); gerr == nil {
				p = cur
			}
		}
		if err == nil {
			p = updated
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("set status of pod %s: %w", name, err)
	}
	dir := filepath.Join(parent, "pod"+string(p.UID), cid)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
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
// cost of one Lookup (what every event and every scraped series pays), of
// cgroups drawn from all N pods and from 100 of them: the same map reads, but
// the second's working set stays in the CPU caches whatever N is.
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
			for _, id := range ids {
				if got := r.Lookup(id); got.Pod == "" || got.Container != "main" {
					b.Fatalf("lookup of a pod cgroup: %+v", got)
				}
			}
			b.Run("ids=all", func(b *testing.B) {
				benchLookups(b, r, ids)
				b.ReportMetric(float64(watcherBytes)/float64(n), "watcher-B/pod")
				b.ReportMetric(float64(watcherBytes)/(1<<20), "watcher-MiB")
				b.ReportMetric(float64(resolverBytes)/(1<<20), "resolver-MiB")
			})
			b.Run("ids=100", func(b *testing.B) { benchLookups(b, r, ids[:100]) })
			_ = f.Client.CoreV1().Namespaces().Delete(b.Context(), podNamespace(w), metav1.DeleteOptions{})
		})
	}
}

// benchLookups looks up cgroups of ids in a fixed random order.
func benchLookups(b *testing.B, r *cgroup.Resolver, ids []uint64) {
	rng := rand.New(rand.NewPCG(1, 2))
	order := make([]uint64, 4096)
	for i := range order {
		order[i] = ids[rng.IntN(len(ids))]
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Lookup(order[i%len(order)])
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
