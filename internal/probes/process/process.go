// Package process is the process lifecycle probe: exec, fork and exit counted
// per cgroup in the kernel, running processes per cgroup, and exec/exit events.
package process

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
)

// Name is the probe's name in configuration and metrics.
const Name = "process"

// EventKinds are the kinds of event the probe publishes.
var EventKinds = []string{events.KindExec, events.KindExit}

// Programs: without the seeding iterator the processes alive at start would
// go uncounted, so it is required. Exec events name the executables where
// the kernel has bpf_loop (5.17); handle_exec_unresolved serves before.
var Programs = probe.Programs{
	Required: []string{processProgHandleExec, processProgHandleExit, processProgHandleFork, processProgSeedProcesses},
	Optional: map[string]string{processProgHandleAttach: "running processes following moves between cgroups"},
	Fallback: map[string][]string{processProgHandleExec: {processProgHandleExecUnresolved}},
}

// eventKinds names the kernel's event kinds on the bus.
var eventKinds = map[processEventKind]string{
	processEventKindEVENT_EXEC: events.KindExec,
	processEventKindEVENT_EXIT: events.KindExit,
}

// metrics are the series the probe exports: what Describe sends.
var metrics series.Set

var (
	execDesc    = metrics.Workload("orb8_process_exec_total", "Programs executed (execve) in the workload.")
	forkDesc    = metrics.Workload("orb8_process_fork_total", "Processes created (fork/clone of a new thread group) in the workload.")
	exitDesc    = metrics.Workload("orb8_process_exit_total", "Processes that ended in the workload, by reason: exit (exit code) or signal (killed).", "reason")
	crashDesc   = metrics.Workload("orb8_process_crashes_total", "Processes in the workload that ended on a program-fault signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS, SIGTRAP) or dumped core.")
	shortDesc   = metrics.Workload("orb8_process_short_lived_total", "Processes in the workload that ended less than one second after they started.")
	runningDesc = metrics.Workload("orb8_process_running", "Processes running in the workload.")
)

// Probe is the process lifecycle probe.
type Probe struct {
	objs  *probe.Objects
	bpf   processObjects
	env   probe.Env
	comms probe.Comms // of the ring reader's goroutine
	rows  probe.RowCache[processProcStats]
	// tuneSpec adjusts the collection before loading (tests drop
	// programs to force the fallback).
	tuneSpec func(*ebpf.CollectionSpec)
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
	if p.tuneSpec != nil {
		p.tuneSpec(spec)
	}
	objs, refused, err := probe.LoadEither(spec, &p.bpf, probe.LoadOptions{
		Programs:  Programs,
		Manual:    []string{processProgSeedProcesses},
		PerCgroup: []string{processMapStats},
	})
	if err != nil {
		return err
	}
	if refused != nil {
		objs.Failed[processProgHandleExec] = refused
	}
	p.objs, p.env = objs, env
	probe.EmitWhile(objs, env.Events, eventKinds)
	if err := objs.ReadRing(p.bpf.Events, p.handle); err != nil {
		p.Close()
		return err
	}
	// Hooks are attached first, so a process born during seeding is counted once.
	if err := p.seed(); err != nil {
		p.Close()
		return err
	}
	return nil
}

// seed runs the task iterator that counts the processes alive at start.
func (p *Probe) seed() error {
	prog := p.bpf.SeedProcesses
	if prog == nil {
		return fmt.Errorf("seed processes: %w", p.objs.Failed[processProgSeedProcesses])
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
	w, ok := p.env.Resolver.Visible(e.CgroupId)
	if !ok {
		return
	}
	ev := events.Event{
		Time:     probe.BootTime(e.BootNs),
		Workload: w,
		Process: events.Process{
			PID: e.Pid, PPID: e.Ppid, UID: e.Uid, Comm: p.comms.Name(e.Comm),
		},
	}
	switch e.Kind {
	case processEventKindEVENT_EXEC:
		if len(raw) < int(unsafe.Sizeof(processExecEvent{})) {
			return
		}
		ev.Kind = events.KindExec
		ev.Exec = decodeExec((*processExecEvent)(unsafe.Pointer(&raw[0])))
	case processEventKindEVENT_EXIT:
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

// Describe implements probe.Probe.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }

// Collect implements probe.Probe: one pass over the in-kernel table.
func (p *Probe) Collect(ch chan<- prometheus.Metric) error {
	if p.objs == nil {
		return nil
	}
	rows := series.RowsTo(ch)
	return probe.CollectPerCPURows(rows, &p.rows, p.bpf.Stats, p.env.Resolver, addStats, func(row *series.Row, s *processProcStats) {
		row.Send(execDesc, prometheus.CounterValue, float64(s.Execs))
		row.Send(forkDesc, prometheus.CounterValue, float64(s.Forks))
		row.Send(exitDesc, prometheus.CounterValue, float64(s.ExitsCode), "exit")
		row.Send(exitDesc, prometheus.CounterValue, float64(s.ExitsSignal), "signal")
		row.Send(crashDesc, prometheus.CounterValue, float64(s.Crashes))
		row.Send(shortDesc, prometheus.CounterValue, float64(s.ShortLived))
		row.Send(runningDesc, prometheus.GaugeValue, float64(max(s.Running, 0)))
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
