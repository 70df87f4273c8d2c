package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/cgroup"
)

// probeRate is how many execs per second the latency prober makes: low
// enough not to load the workload, yet a few hundred samples per idle run.
const probeRate = 50

// prober is one API client streaming every exec of the node over the gRPC
// API (as `orb8 trace exec` does) while a workload runs, and measures
// capture-to-API latency with it: it execs a tiny program at a steady rate
// in a cgroup of its own and records when each of those execs arrives
// against the kernel's timestamp in it. Watching turns the kernel's event
// gate (orb8_emit) on for every exec of the node, so the prober runs in a
// pass of its own ("orb8+api"), never in the plain orb8 pass.
type prober struct {
	dir         string // the prober's cgroup
	client      *apiclient.Agent
	stopExecs   context.CancelFunc
	stopWatch   context.CancelFunc
	execs       sync.WaitGroup
	sent        atomic.Int64
	execErr     error // set before execs is done
	latencies   apiclient.Latencies
	streamed    atomic.Int64 // exec events of every workload
	watchClosed chan error
}

// probeResult is what one prober run measured.
type probeResult struct {
	p50, p99 time.Duration
	missed   int // execs whose event did not arrive within a second of the last
	streamed int // exec events the stream carried, the workload's included
}

func startProber(apiAddr, program string) (*prober, error) {
	root, err := cgroup.FindMount()
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("orb8-bench-latency-%d", os.Getpid())
	p := &prober{dir: filepath.Join(root, name), watchClosed: make(chan error, 1)}
	if err := os.Mkdir(p.dir, 0o755); err != nil {
		return nil, err
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	p.stopWatch = stopWatch
	if p.client, err = apiclient.Dial(watchCtx, apiAddr, apiclient.TLS{}, 3*time.Second); err != nil {
		p.close()
		return nil, err
	}
	req := &pb.WatchEventsRequest{Kinds: []string{"exec"}}
	go func() {
		p.watchClosed <- p.client.Watch(watchCtx, req, func(m *pb.WatchEventsResponse) error {
			if e := m.GetEvent(); e != nil {
				p.streamed.Add(1)
				if e.GetWorkload().GetCgroup() == "/"+name {
					p.latencies.Observe(e)
				}
			}
			return nil
		})
	}()
	// The agent emits exec events only once a stream wants them: wait for it.
	if err := p.waitForStream(); err != nil {
		p.close()
		return nil, err
	}
	execCtx, stopExecs := context.WithCancel(context.Background())
	p.stopExecs = stopExecs
	p.execs.Add(1)
	go p.execLoop(execCtx, program)
	return p, nil
}

func (p *prober) waitForStream() error {
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.watchClosed:
			return fmt.Errorf("watch events: stream ended at once: %v", err)
		default:
		}
		st, err := p.client.Statuses(context.Background())
		if err != nil {
			return err
		}
		if st[0].GetApiStreams() > 0 {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("watch events: the agent did not open the stream in 3 s")
}

// execLoop runs program in the prober's cgroup probeRate times a second.
func (p *prober) execLoop(ctx context.Context, program string) {
	defer p.execs.Done()
	tick := time.NewTicker(time.Second / probeRate)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cmd := exec.Command(program)
		if err := startInCgroup(p.dir, cmd); err != nil {
			p.execErr = fmt.Errorf("latency prober: %w", err)
			return
		}
		if err := cmd.Wait(); err != nil {
			p.execErr = fmt.Errorf("latency prober: %s: %w", program, err)
			return
		}
		p.sent.Add(1)
	}
}

// stop ends the execs, waits up to a second for their last events and
// returns the latencies.
func (p *prober) stop() (probeResult, error) {
	p.stopExecs()
	p.execs.Wait()
	sent := int(p.sent.Load())
	for deadline := time.Now().Add(time.Second); p.latencies.Count() < sent && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	r := probeResult{p50: p.latencies.Quantile(0.5), p99: p.latencies.Quantile(0.99), missed: sent - p.latencies.Count(), streamed: int(p.streamed.Load())}
	p.close()
	switch {
	case p.execErr != nil:
		return r, p.execErr
	case sent == 0:
		return r, fmt.Errorf("latency prober made no execs")
	}
	return r, nil
}

func (p *prober) close() {
	p.stopWatch()
	if p.client != nil {
		p.client.Close()
	}
	os.Remove(p.dir) // its processes were all waited for
}
