package kube

import (
	"log/slog"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orb8/orb8/internal/kube/kubetest"
)

// An address passes to the object that holds it last; the old holder's
// removal leaves it there; a full index counts what it could not hold.
func TestAddressIndexOwnersAndBound(t *testing.T) {
	x := NewAddressIndex(2)
	ip1, ip2, ip3 := netip.MustParseAddr("10.244.0.1"), netip.MustParseAddr("10.244.0.2"), netip.MustParseAddr("10.244.0.3")
	old, reuse := Owner{KindPod, "shop", "old"}, Owner{KindPod, "shop", "new"}
	x.set(old, []netip.Addr{ip1})
	x.set(reuse, []netip.Addr{ip1})
	x.set(old, nil) // the old pod's deletion comes after the new pod
	if o, ok := x.Lookup(ip1); !ok || o != reuse {
		t.Errorf("reused %s: %v %v, want %v", ip1, o, ok, reuse)
	}
	svc := Owner{KindService, "shop", "cart"}
	x.set(svc, []netip.Addr{ip2, ip3})
	n, dropped, _ := x.Stats()
	if o, _ := x.Lookup(ip2); n != 2 || dropped != 1 || o != svc {
		t.Errorf("a full index: %d addresses, %d dropped, %s is %v; want 2, 1, %v", n, dropped, ip2, o, svc)
	}
	if o, ok := x.Lookup(netip.MustParseAddr("::ffff:10.244.0.2")); !ok || o != svc {
		t.Errorf("an IPv4-mapped address: %v %v", o, ok)
	}
	x.set(svc, nil)
	x.set(reuse, nil)
	if n, _, _ := x.Stats(); n != 0 {
		t.Errorf("%d addresses after every owner left", n)
	}
}

// The watcher indexes every pod (any node; not on the host network) and
// Service of the API server, and follows address changes and deletions.
func TestAddressWatcherIndexesTheCluster(t *testing.T) {
	f := newFixture(t)
	ns := f.Namespace(nil)
	web := f.Pod(ns, "web", uniq("node"), nil, "10.251.0.6", map[string]string{"c": containerID()})
	host := kubetest.PodObject(ns, "host", uniq("node"), nil, map[string]string{"c": containerID()})
	host.Spec.HostNetwork = true
	host, err := f.Client.CoreV1().Pods(ns).Create(f.ctx, host, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.SetStatus(host, "10.251.9.9", nil, nil)
	svc := f.Service(ns, "cart", "")

	w, err := NewAddressWatcher(kubetest.Shared.Config(), 1000, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	w.Start(f.ctx)
	defer w.Close()
	eventually(t, "watcher synced", w.Synced)
	f.SetStatus(web, "10.251.0.7", nil, nil)
	eventually(t, "the pod's new address", func() bool {
		_, old := w.Lookup(netip.MustParseAddr("10.251.0.6"))
		_, now := w.Lookup(netip.MustParseAddr("10.251.0.7"))
		return !old && now
	})
	for _, tc := range []struct {
		ip   string
		want Owner
		ok   bool
	}{
		{"10.251.0.7", Owner{KindPod, ns, "web"}, true},
		{svc.Spec.ClusterIP, Owner{KindService, ns, "cart"}, true},
		{"10.251.9.9", Owner{}, false}, // the node's address
	} {
		if o, ok := w.Lookup(netip.MustParseAddr(tc.ip)); o != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%s) = %v %v, want %v %v", tc.ip, o, ok, tc.want, tc.ok)
		}
	}
	if err := f.Client.CoreV1().Pods(ns).Delete(f.ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	if err := f.Client.CoreV1().Services(ns).Delete(f.ctx, "cart", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted pod's and Service's addresses released", func() bool {
		_, pod := w.Lookup(netip.MustParseAddr("10.251.0.7"))
		_, service := w.Lookup(netip.MustParseAddr(svc.Spec.ClusterIP))
		return !pod && !service
	})
}

// BenchmarkAddressIndexFull fills an index to the hub's bound, a pod per
// address, and reports the heap it holds per address and a lookup's cost.
//
//	go test ./internal/kube -run '^$' -bench AddressIndexFull -benchtime 1x
func BenchmarkAddressIndexFull(b *testing.B) {
	const n = 1 << 18
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		x := NewAddressIndex(n)
		for i := range n {
			ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			x.set(Owner{KindPod, "namespace-" + strconv.Itoa(i%100), "pod-" + strconv.Itoa(i)}, []netip.Addr{ip})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		start := time.Now()
		for i := range n {
			x.Lookup(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-bytes/address")
		b.ReportMetric(float64(time.Since(start).Nanoseconds())/n, "ns/lookup")
		runtime.KeepAlive(x)
	}
}
