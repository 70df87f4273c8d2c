// Package process is the process lifecycle probe: exec, fork and exit counted
// per cgroup in the kernel, running processes per cgroup, and exec/exit events.
package process

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"github.com/cilium/ebpf/link"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
)

// Name is the probe's name in configuration and metrics.
const Name = "process"

// Programs: without the seeding iterator the processes alive at start would
// go uncounted, so it is required.
var Programs = probe.Programs{
	Required: []string{"handle_exec", "handle_exit", "handle_fork", "seed_processes"},
	Optional: map[string]string{"handle_attach": "running processes following moves between cgroups"},
}

// Event kinds, as in process.bpf.c.
const (
	kindExec = 1
	kindExit = 2
)

// eventKinds names the kernel's event kinds on the bus.
var eventKinds = map[uint32]string{kindExec: events.KindExec, kindExit: events.KindExit}

var (
	execDesc    = probe.WorkloadDesc("orb8_process_exec_total", "Programs executed (execve) in the workload.")
	forkDesc    = probe.WorkloadDesc("orb8_process_fork_total", "Processes created (fork/clone of a new thread group) in the workload.")
	exitDesc    = probe.WorkloadDesc("orb8_process_exit_total", "Processes that ended in the workload, by reason: exit (exit code) or signal (killed).", "reason")
	crashDesc   = probe.WorkloadDesc("orb8_process_crashes_total", "Processes in the workload that ended on a program-fault signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS, SIGTRAP) or dumped core.")
	shortDesc   = probe.WorkloadDesc("orb8_process_short_lived_total", "Processes in the workload that ended less than one second after they started.")
	runningDesc = probe.WorkloadDesc("orb8_process_running", "Processes running in the workload.")
)

// Probe is the process lifecycle probe.
type Probe struct {
	objs  *probe.Objects
	env   probe.Env
	comms probe.Comms // of the ring reader's goroutine
}

// New returns an unstarted process probe.
func New() *Probe { return &Probe{} }

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe.
func (p *Probe) Objects() *probe.Objects { return p.objs }

// Start implements probe.Probe.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	spec, err := loadProcess()
	if err != nil {
		return err
	}
	objs, err := probe.Load(spec, probe.LoadOptions{
		Programs: Programs,
		Manual:   []string{"seed_processes"},
	})
	if err != nil {
		return err
	}
	p.objs, p.env = objs, env
	objs.EmitWhile(env.Events, events.KindExec, events.KindExit)
	if err := objs.ReadRing("events", p.handle); err != nil {
		p.Close()
		return err
	}
	// Hooks are attached first, so a process born during seeding is counted once.
	if err := seed(objs); err != nil {
		p.Close()
		return err
	}
	return nil
}

// seed runs the task iterator that counts the processes alive at start.
func seed(objs *probe.Objects) error {
	prog := objs.Programs["seed_processes"]
	if prog == nil {
		return fmt.Errorf("seed processes: %w", objs.Failed["seed_processes"])
	}
	it, err := link.AttachIter(link.IterOptions{Program: prog})
	if err != nil {
		return fmt.Errorf("seed processes: %w", err)
	}
	defer it.Close()
	if err := probe.RunIter(it); err != nil {
		return fmt.Errorf("seed processes: %w", err)
	}
	return nil
}

func (p *Probe) handle(raw []byte) {
	if len(raw) < int(unsafe.Sizeof(processEvent{})) {
		return
	}
	e := (*processEvent)(unsafe.Pointer(&raw[0]))
	if !p.env.Events.Wants(eventKinds[e.Kind]) {
		return
	}
	ev := events.Event{
		Time:     probe.BootTime(e.BootNs),
		Workload: p.env.Resolver.Lookup(e.CgroupId),
		Process: events.Process{
			PID: e.Pid, PPID: e.Ppid, UID: e.Uid, Comm: p.comms.Name(e.Comm),
		},
	}
	switch e.Kind {
	case kindExec:
		ev.Kind = events.KindExec
		ev.Exec = &events.Exec{Filename: probe.CString(e.Filename[:])}
	case kindExit:
		ev.Kind = events.KindExit
		ev.Exit = &events.Exit{
			Code: int(e.ExitCode), Signal: int(e.Signal), CoreDumped: e.CoreDumped != 0, Reason: exitReason(e.Signal),
			Crash: e.Crash != 0, Lifetime: time.Duration(e.LifetimeNs),
		}
	default:
		return
	}
	p.env.Events.Publish(ev)
}

func exitReason(signal uint32) string {
	if signal != 0 {
		return "signal"
	}
	return "exit"
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	return probe.Release(&p.objs)
}

// Forget implements probe.Forgetter.
func (p *Probe) Forget(ids []uint64) {
	if p.objs != nil {
		probe.DeleteKeys(p.objs.Maps["stats"], ids)
	}
}

// Describe implements prometheus.Collector.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{execDesc, forkDesc, exitDesc, crashDesc, shortDesc, runningDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one pass over the in-kernel table.
func (p *Probe) Collect(ch chan<- prometheus.Metric) {
	if p.objs == nil {
		return
	}
	_ = probe.CollectPerCPU(p.objs.Maps["stats"], p.env.Resolver, addStats, func(w cgroup.Workload, s *processProcStats) {
		ch <- probe.WorkloadMetric(execDesc, prometheus.CounterValue, float64(s.Execs), w)
		ch <- probe.WorkloadMetric(forkDesc, prometheus.CounterValue, float64(s.Forks), w)
		ch <- probe.WorkloadMetric(exitDesc, prometheus.CounterValue, float64(s.ExitsCode), w, "exit")
		ch <- probe.WorkloadMetric(exitDesc, prometheus.CounterValue, float64(s.ExitsSignal), w, "signal")
		ch <- probe.WorkloadMetric(crashDesc, prometheus.CounterValue, float64(s.Crashes), w)
		ch <- probe.WorkloadMetric(shortDesc, prometheus.CounterValue, float64(s.ShortLived), w)
		ch <- probe.WorkloadMetric(runningDesc, prometheus.GaugeValue, float64(max(s.Running, 0)), w)
	})
}

func addStats(dst, src *processProcStats) {
	dst.Execs += src.Execs
	dst.Forks += src.Forks
	dst.ExitsCode += src.ExitsCode
	dst.ExitsSignal += src.ExitsSignal
	dst.Crashes += src.Crashes
	dst.ShortLived += src.ShortLived
	dst.Running += src.Running
}
