package probe

import (
	"context"
	"log/slog"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/orb8/orb8/internal/tick"
)

// Flushes runs a task iterator for what it does, not its output: once at
// the start, then at a fixed interval. Probes use it to move counts the
// kernel keeps per thread (page faults, run-queue waits) to per-cgroup maps
// without a hook on the events themselves.
type Flushes struct {
	iter *link.Iter
	what string
	log  *slog.Logger
	stop func()
}

// StartFlushes attaches the iterator program prog and runs it now and every
// interval until ctx ends or Close; what names it in the log when a run fails.
func StartFlushes(ctx context.Context, prog *ebpf.Program, every time.Duration, what string, log *slog.Logger) (*Flushes, error) {
	it, err := link.AttachIter(link.IterOptions{Program: prog})
	if err != nil {
		return nil, Explain(ebpf.Tracing, err)
	}
	f := &Flushes{iter: it, what: what, log: log}
	// The first pass marks where the threads alive now stand.
	f.Run(time.Now())
	f.stop = tick.Every(ctx, every, f.Run)
	return f, nil
}

// Run runs the iterator once.
func (f *Flushes) Run(time.Time) {
	if err := RunIter(f.iter); err != nil && f.log != nil {
		f.log.Warn("flush "+f.what, "err", err)
	}
}

// Close stops the runs and detaches the iterator.
func (f *Flushes) Close() error {
	f.stop()
	return f.iter.Close()
}
