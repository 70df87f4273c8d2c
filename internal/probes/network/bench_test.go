package network

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

// loopbackListener listens on 127.0.0.1 and returns the socket and its address.
func loopbackListener(b *testing.B) (int, unix.Sockaddr) {
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		b.Fatal(err)
	}
	if err := unix.Listen(lfd, 128); err != nil {
		b.Fatal(err)
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		b.Fatal(err)
	}
	return lfd, sa
}

// connect opens one connection to the listener and accepts it.
func connect(b *testing.B, lfd int, sa unix.Sockaddr) tcpPair {
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := unix.Connect(c, sa); err != nil {
		b.Fatal(err)
	}
	s, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	return tcpPair{client: c, server: s}
}

// The client side of every load runs on one CPU, the server side on another,
// so that where the scheduler puts them does not change the figures.
const clientCPU, serverCPU = 0, 1

// pin locks the calling goroutine to its thread and the thread to one CPU.
func pin(cpu int) {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	unix.SchedSetaffinity(0, &set)
}

// tcpPair is a connected loopback pair of sockets in this process.
type tcpPair struct{ client, server int }

func newTCPPair(b *testing.B) tcpPair {
	lfd, sa := loopbackListener(b)
	defer unix.Close(lfd)
	p := connect(b, lfd, sa)
	for _, fd := range []int{p.client, p.server} { // request/response: no Nagle delay
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	return p
}

// connections opens and closes n connections (client closes first, so the
// TIME_WAIT is the client's) and returns the mean time of one.
func connections(b *testing.B, n int) time.Duration {
	lfd, sa := loopbackListener(b)
	defer unix.Close(lfd)
	t0 := time.Now()
	for range n {
		connect(b, lfd, sa).close()
	}
	return time.Since(t0) / time.Duration(n)
}

func (p tcpPair) close() {
	unix.Close(p.client)
	unix.Close(p.server)
}

// stream sends n bytes from client to server in 64 KiB writes and returns
// the time it took, the CPU time this process spent (both ends, loopback's
// softirq work done in their context, the probe's event reader), and the
// data segments it needed.
func (p tcpPair) stream(b *testing.B, n int) (wall, cpu time.Duration, segs uint32) {
	done := make(chan error, 1)
	go func() {
		pin(serverCPU)
		defer runtime.UnlockOSThread()
		buf := make([]byte, 256<<10)
		for got := 0; got < n; {
			r, err := unix.Read(p.server, buf)
			if err != nil || r == 0 {
				done <- err
				return
			}
			got += r
		}
		done <- nil
	}()
	buf := make([]byte, 64<<10)
	cpu0 := testutil.ProcessCPUTime(b, os.Getpid())
	t0 := time.Now()
	for sent := 0; sent < n; {
		w, err := unix.Write(p.client, buf[:min(len(buf), n-sent)])
		if err != nil {
			b.Fatal(err)
		}
		sent += w
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	wall = time.Since(t0)
	cpu = testutil.ProcessCPUTime(b, os.Getpid()) - cpu0
	info, err := unix.GetsockoptTCPInfo(p.client, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		b.Fatal(err)
	}
	return wall, cpu, info.Data_segs_out
}

// udpPair returns two loopback UDP sockets connected to each other.
func udpPair(b *testing.B) tcpPair {
	var fds [2]int
	var addrs [2]unix.Sockaddr
	for i := range fds {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			b.Fatal(err)
		}
		if addrs[i], err = unix.Getsockname(fd); err != nil {
			b.Fatal(err)
		}
		fds[i] = fd
	}
	for i := range fds {
		if err := unix.Connect(fds[i], addrs[1-i]); err != nil {
			b.Fatal(err)
		}
	}
	return tcpPair{client: fds[0], server: fds[1]}
}

// requestResponse runs n one-byte round trips and returns the mean time of one.
func (p tcpPair) requestResponse(b *testing.B, n int) time.Duration {
	go func() {
		pin(serverCPU)
		defer runtime.UnlockOSThread()
		buf := make([]byte, 1)
		for range n {
			if r, _ := unix.Read(p.server, buf); r != 1 {
				return
			}
			unix.Write(p.server, buf)
		}
	}()
	buf := []byte{1}
	t0 := time.Now()
	for range n {
		if _, err := unix.Write(p.client, buf); err != nil {
			b.Fatal(err)
		}
		if _, err := unix.Read(p.client, buf); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(t0) / time.Duration(n)
}

// bpfRuntime sums the in-kernel run time and runs of the probe's programs so far.
func bpfRuntime(p *Probe) (time.Duration, map[string]ebpf.ProgramStats) {
	var total time.Duration
	per := map[string]ebpf.ProgramStats{}
	for name, prog := range p.Objects().Programs() {
		if st, err := prog.Stats(); err == nil {
			total += st.Runtime
			per[name] = *st
		}
	}
	return total, per
}

// BenchmarkLoopback measures what the network probe costs TCP and UDP over
// loopback. Each iteration is one round of two halves, without the probe and
// with it freshly loaded, in alternating order: a 256 MiB TCP stream in 64 KiB
// writes (MB/s, and CPU time per MB, which the machine's other work disturbs
// less), 20k one-byte TCP request/response round trips (ns each),
// 2000 TCP connections opened and closed (ns each), and 20k one-byte UDP
// round trips. Reported values are medians over rounds: each figure with the
// probe off and on, the difference in percent, and the probe's in-kernel run
// time per data segment, round trip and connection, and per call of each
// program. BPF run-time
// statistics stay on in both halves, as the agent keeps them on. Run with
// -benchtime=Nx for N rounds:
//
//	go test -run '^$' -bench Loopback -benchtime 10x ./internal/probes/network/
func BenchmarkLoopback(b *testing.B) {
	testutil.RequireRoot(b)
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatal(err)
	}
	defer stats.Close()
	root, err := cgroup.FindMount()
	if err != nil {
		b.Fatal(err)
	}
	res, err := cgroup.NewResolver(root, 1<<16)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Close()
	pin(clientCPU)
	defer runtime.UnlockOSThread()

	const streamBytes, trips, conns = 256 << 20, 20000, 2000
	samples := map[string][]float64{}
	add := func(name string, v float64) { samples[name] = append(samples[name], v) }
	round := 0
	for b.Loop() {
		for half := range 2 {
			on := (half+round)%2 == 1
			mode := "off"
			var p *Probe
			if on {
				mode = "on"
				p = New(DefaultFlowTableSize)
				env := probe.Env{Resolver: res, Events: events.NewBus(), Log: slog.Default(), CgroupRoot: root}
				if err := p.Start(context.Background(), env); err != nil {
					b.Fatal(err)
				}
			}
			pair := newTCPPair(b)
			pair.stream(b, streamBytes/16) // warm up
			var before time.Duration
			var perBefore map[string]ebpf.ProgramStats
			if on {
				before, perBefore = bpfRuntime(p)
			}
			elapsed, cpu, segs := pair.stream(b, streamBytes)
			add("MB/s-"+mode, float64(streamBytes)/1e6/elapsed.Seconds())
			add("cpu-ns/MB-"+mode, float64(cpu.Nanoseconds())/(float64(streamBytes)/1e6))
			var afterStream time.Duration
			if on {
				var perAfter map[string]ebpf.ProgramStats
				afterStream, perAfter = bpfRuntime(p)
				add("bpf-ns/segment", float64((afterStream-before).Nanoseconds())/float64(segs))
				// Which programs a stream pays for, and how often.
				for name, st := range perAfter {
					if runs := st.RunCount - perBefore[name].RunCount; runs > 0 {
						add("stream-runs/segment-"+name, float64(runs)/float64(segs))
						add("stream-ns/segment-"+name, float64((st.Runtime-perBefore[name].Runtime).Nanoseconds())/float64(segs))
					}
				}
			}
			rtt := pair.requestResponse(b, trips)
			add("ns/roundtrip-"+mode, float64(rtt.Nanoseconds()))
			pair.close()
			var afterTrips time.Duration
			var perTrips map[string]ebpf.ProgramStats
			if on {
				afterTrips, perTrips = bpfRuntime(p)
				add("bpf-ns/roundtrip", float64((afterTrips-afterStream).Nanoseconds())/trips)
			}
			add("ns/connection-"+mode, float64(connections(b, conns).Nanoseconds()))
			var afterConns time.Duration
			if on {
				var perConns map[string]ebpf.ProgramStats
				afterConns, perConns = bpfRuntime(p)
				add("bpf-ns/connection", float64((afterConns-afterTrips).Nanoseconds())/conns)
				// Which programs a short connection pays for, and how often.
				for name, st := range perConns {
					if runs := st.RunCount - perTrips[name].RunCount; runs > 0 {
						add("conn-runs/connection-"+name, float64(runs)/conns)
						add("conn-ns/connection-"+name, float64((st.Runtime-perTrips[name].Runtime).Nanoseconds())/conns)
					}
				}
			}
			udp := udpPair(b)
			add("ns/udp-roundtrip-"+mode, float64(udp.requestResponse(b, trips).Nanoseconds()))
			udp.close()
			if on {
				total, per := bpfRuntime(p)
				add("bpf-ns/udp-roundtrip", float64((total-afterConns).Nanoseconds())/trips)
				for name, st := range per {
					if st.RunCount > 0 {
						add("ns/run-"+name, float64(st.Runtime.Nanoseconds())/float64(st.RunCount))
					}
				}
			}
			if p != nil {
				p.Close()
			}
		}
		round++
	}
	for name, v := range samples {
		b.ReportMetric(testutil.Median(v), name)
	}
	b.ReportMetric(100*(1-testutil.Median(samples["MB/s-on"])/testutil.Median(samples["MB/s-off"])), "%throughput-loss")
	b.ReportMetric(100*(testutil.Median(samples["cpu-ns/MB-on"])/testutil.Median(samples["cpu-ns/MB-off"])-1), "%stream-cpu-per-byte")
	b.ReportMetric(100*(testutil.Median(samples["ns/roundtrip-on"])/testutil.Median(samples["ns/roundtrip-off"])-1), "%roundtrip-slower")
	b.ReportMetric(100*(testutil.Median(samples["ns/connection-on"])/testutil.Median(samples["ns/connection-off"])-1), "%connection-slower")
	b.ReportMetric(100*(testutil.Median(samples["ns/udp-roundtrip-on"])/testutil.Median(samples["ns/udp-roundtrip-off"])-1), "%udp-roundtrip-slower")
}

// BenchmarkLiveFlows lists the live flows of a node holding 1,000 open
// connections (2,000 tracked sockets) and 15,000 other open files through
// the flow walk, which visits the connection table, not the files (the walk
// it replaced visited every open file of the node).
//
//	go test -run '^$' -bench LiveFlows ./internal/probes/network/
func BenchmarkLiveFlows(b *testing.B) {
	testutil.RequireRoot(b)
	const conns, files = 1000, 15000
	var lim unix.Rlimit // Go raises the soft limit to the hard one
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 2*conns+files+1000 {
		b.Skipf("needs %d open files, may open %d: %v", 2*conns+files+1000, lim.Cur, err)
	}
	root, err := cgroup.FindMount()
	if err != nil {
		b.Fatal(err)
	}
	res, err := cgroup.NewResolver(root, 1<<16)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Close()
	p := New(DefaultFlowTableSize)
	if err := p.Start(context.Background(), probe.Env{Resolver: res, Events: events.NewBus(), Log: slog.Default(), CgroupRoot: root}); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	lfd, sa := loopbackListener(b)
	defer unix.Close(lfd)
	for range conns {
		pair := connect(b, lfd, sa)
		defer pair.close()
	}
	for range files {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(fd)
	}
	for _, it := range p.iters {
		b.Run(it.prog, func(b *testing.B) {
			var records int
			for b.Loop() {
				p.mu.Lock()
				live, err := p.readLive(it.link)
				p.mu.Unlock()
				if err != nil {
					b.Fatal(err)
				}
				records = len(live)
			}
			if records < 2*conns {
				b.Fatalf("listed %d live flows, want at least %d", records, 2*conns)
			}
			b.ReportMetric(float64(records), "flows")
		})
	}
}
