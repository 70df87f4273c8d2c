package syscalls

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/sysnames"
)

// stream is one open Stream on one cgroup: the syscall numbers it wants, all when empty.
type stream struct{ nrs []uint32 }

// Stream starts streaming the syscalls of the given cgroups (a pod's
// containers) as events of kind "syscall" on the bus: every syscall, or only
// those named in syscalls. The kernel filters both; while nothing is streamed
// it emits nothing. Streams of several callers on one cgroup are merged.
// stop ends this stream and is safe to call more than once.
func (p *Probe) Stream(cgroupIDs []uint64, syscalls []string) (stop func(), err error) {
	nrs, err := sysnames.Numbers(syscalls)
	if err != nil {
		return nil, err
	}
	if len(cgroupIDs) == 0 {
		return nil, errors.New("stream syscalls: no cgroup to stream")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.objs == nil {
		return nil, errors.New("stream syscalls: the syscalls probe is not running")
	}
	s := &stream{nrs: nrs}
	for i, id := range cgroupIDs {
		p.streams[id] = append(p.streams[id], s)
		if err := p.sync(id); err != nil {
			p.remove(s, cgroupIDs[:i+1])
			return nil, fmt.Errorf("stream syscalls of cgroup %d: %w", id, err)
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.objs != nil {
				p.remove(s, cgroupIDs)
			}
		})
	}, nil
}

// remove drops s from the cgroups and updates the kernel. Callers hold mu.
func (p *Probe) remove(s *stream, cgroupIDs []uint64) {
	for _, id := range cgroupIDs {
		p.streams[id] = slices.DeleteFunc(p.streams[id], func(o *stream) bool { return o == s })
		_ = p.sync(id)
	}
}

// sync writes the merged filter of one cgroup, and the count of streamed
// cgroups, into the kernel. Callers hold mu.
func (p *Probe) sync(id uint64) error {
	streamed := p.bpf.Streamed
	if len(p.streams[id]) == 0 {
		delete(p.streams, id)
		_ = streamed.Delete(id)
	} else if err := streamed.Put(id, mergeFilters(p.streams[id])); err != nil {
		return err
	}
	return p.bpf.Streaming.Put(uint32(0), uint32(len(p.streams)))
}

func mergeFilters(streams []*stream) syscallsStreamFilter {
	var f syscallsStreamFilter
	for _, s := range streams {
		if len(s.nrs) == 0 {
			for i := range f.Nrs {
				f.Nrs[i] = ^uint64(0)
			}
			return f
		}
		for _, nr := range s.nrs {
			f.Nrs[nr/64] |= 1 << (nr % 64)
		}
	}
	return f
}

func (p *Probe) handle(raw []byte) {
	if len(raw) < int(unsafe.Sizeof(syscallsEvent{})) || !p.env.Events.Wants(events.KindSyscall) {
		return
	}
	e := (*syscallsEvent)(unsafe.Pointer(&raw[0]))
	w, ok := p.env.Resolver.Visible(e.CgroupId)
	if !ok {
		return
	}
	sc := &events.Syscall{TID: e.Tid, Nr: e.Nr, Name: sysnames.Name(e.Nr), Ret: e.Ret, Timed: e.Timed != 0, Duration: time.Duration(e.DurationNs)}
	if e.Ret < 0 && e.Ret >= -4095 {
		sc.Errno = errnoName(uint32(-e.Ret))
	}
	p.env.Events.Publish(events.Event{
		Time:     probe.BootTime(e.BootNs),
		Kind:     events.KindSyscall,
		Workload: w,
		Process:  events.Process{PID: e.Pid, PPID: e.Ppid, UID: e.Uid, Comm: p.comms.Name(e.Comm)},
		Syscall:  sc,
	})
}
