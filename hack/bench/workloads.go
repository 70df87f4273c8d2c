package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// workload is one load whose throughput is compared with and without observers.
type workload struct {
	name, unit string
	// run performs the load once and returns its throughput in unit.
	run func() (float64, error)
	// bpftrace is the same counting done by bpftrace, when compared.
	bpftrace string
}

type tools struct{ execchain, pingpong, cuda string }

func workloads(t tools, only map[string]bool) ([]workload, func(), error) {
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	all := []workload{
		{name: "idle", unit: "s", run: func() (float64, error) { time.Sleep(10 * time.Second); return 10, nil }},
		{name: "exec_storm", unit: "execs/s", run: func() (float64, error) { return timed(20000, t.execchain, "19999") },
			bpftrace: `tracepoint:sched:sched_process_exec { @[cgroup] = count(); }`},
		{name: "cuda_standin", unit: "runtime calls/s", run: func() (float64, error) { return cudaStorm(t.cuda) }},
		{name: "context_switch", unit: "round trips/s", run: func() (float64, error) { return timed(200000, t.pingpong, "200000") },
			bpftrace: `tracepoint:sched:sched_wakeup,tracepoint:sched:sched_wakeup_new { @qt[args->pid] = nsecs; }
tracepoint:sched:sched_switch { if (args->prev_state == 0) { @qt[args->prev_pid] = nsecs; }
  $ts = @qt[args->next_pid]; if ($ts) { @usecs[cgroup] = hist((nsecs - $ts) / 1000); delete(@qt[args->next_pid]); } }`},
	}
	if only["tcp_bulk"] || len(only) == 0 {
		srv := exec.Command("iperf3", "-s", "-B", "127.0.0.1", "-p", "5299")
		if err := srv.Start(); err != nil {
			return nil, closeAll, fmt.Errorf("iperf3 server (apt-get install iperf3): %w", err)
		}
		closers = append(closers, func() { srv.Process.Kill(); srv.Wait() })
		time.Sleep(300 * time.Millisecond)
		all = append(all, workload{name: "tcp_bulk", unit: "Gbit/s", run: iperf3})
	}
	if only["tcp_short"] || len(only) == 0 {
		addr, stop, err := httpServer()
		if err != nil {
			return nil, closeAll, err
		}
		closers = append(closers, stop)
		// The peer counts what orb8's connection counts come from, per
		// cgroup: the sockets' state changes.
		all = append(all, workload{name: "tcp_short", unit: "conn/s", run: func() (float64, error) { return wrk(addr) },
			bpftrace: `tracepoint:sock:inet_sock_set_state { @[cgroup, args->newstate] = count(); }`})
	}
	if only["dns_storm"] || len(only) == 0 {
		stop, err := dnsResponder("127.0.0.1:53")
		if err != nil {
			return nil, closeAll, err
		}
		closers = append(closers, stop)
		all = append(all, workload{name: "dns_storm", unit: "queries/s", run: func() (float64, error) { return dnsStorm("127.0.0.1:53", 4, 3*time.Second) }})
	}
	var out []workload
	for _, w := range all {
		if len(only) == 0 || only[w.name] {
			out = append(out, w)
		}
	}
	return out, closeAll, nil
}

// timed runs a command and returns ops per second.
func timed(ops float64, name string, args ...string) (float64, error) {
	begin := time.Now()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%s: %v: %s", name, err, out)
	}
	return ops / time.Since(begin).Seconds(), nil
}

func iperf3() (float64, error) {
	out, err := exec.Command("iperf3", "-c", "127.0.0.1", "-p", "5299", "-t", "3", "-J").Output()
	if err != nil {
		return 0, fmt.Errorf("iperf3: %v", err)
	}
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, fmt.Errorf("iperf3 output: %v", err)
	}
	return r.End.SumReceived.BitsPerSecond / 1e9, nil
}

func httpServer() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }, nil
}

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// wrk opens a new connection per request (Connection: close).
func wrk(addr string) (float64, error) {
	out, err := exec.Command("wrk", "-t2", "-c16", "-d3s", "-H", "Connection: close", "http://"+addr+"/").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk (apt-get install wrk): %v: %s", err, out)
	}
	m := wrkRate.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk output: %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// dnsResponder answers every query NXDOMAIN.
func dnsResponder(addr string) (func(), error) {
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("dns responder on %s: %w", addr, err)
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, peer, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RCode: dnsmessage.RCodeNameError})
			b.StartQuestions()
			b.Question(q)
			msg, _ := b.Finish()
			conn.WriteTo(msg, peer)
		}
	}()
	return func() { conn.Close() }, nil
}

// dnsStorm sends A queries from clients closed-loop for d and returns queries/s.
func dnsStorm(server string, clients int, d time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("udp", server)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			name := dnsmessage.MustNewName(fmt.Sprintf("bench-%d.orb8.test.", c))
			buf := make([]byte, 1500)
			for id := uint16(0); ctx.Err() == nil; id++ {
				b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
				b.StartQuestions()
				b.Question(dnsmessage.Question{Name: name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
				msg, _ := b.Finish()
				conn.SetDeadline(time.Now().Add(time.Second))
				if _, err := conn.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := conn.Read(buf); err != nil {
					continue
				}
				total.Add(1)
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return float64(total.Load()) / d.Seconds(), nil
}

// cudaStorm times cudaLaunchKernel calls of the stand-in libraries (each
// reaches the stand-in cuLaunchKernel, as the real runtime does). The app
// loads them with dlopen and waits, so an agent can hook them first.
func cudaStorm(dir string) (float64, error) {
	cmd := exec.Command(dir+"/app", dir, "bench", "200000")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer cmd.Wait()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "loaded" {
		return 0, fmt.Errorf("cuda stand-in app did not load its libraries")
	}
	time.Sleep(time.Second) // the agent hooks a library within 2 s of its mapping, typically 150-200 ms
	if _, err := io.WriteString(stdin, "runtime\n"); err != nil {
		return 0, err
	}
	stdin.Close() // one timing; the app exits after it
	var runtimeNs float64
	if !sc.Scan() {
		return 0, fmt.Errorf("cuda stand-in app: no result")
	}
	if _, err := fmt.Sscanf(sc.Text(), "ns=%g", &runtimeNs); err != nil {
		return 0, fmt.Errorf("cuda stand-in app said %q: %v", sc.Text(), err)
	}
	return 1e9 / runtimeNs, nil
}
