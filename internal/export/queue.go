package export

import (
	"log/slog"
	"sync/atomic"
)

// queue accounts for what waits in an SDK batch processor for export:
// admit refuses an item past the processor's own bound, so the processor
// never drops one silently, and exported counts what an export lost.
type queue struct {
	size int64
	what string // what is queued, for the log: "log", "span"
	// queued is the items admitted and not yet handed to the exporter.
	queued  atomic.Int64
	dropped atomic.Uint64 // refused by a full queue
	failed  atomic.Uint64 // in exports that failed
	errors  *atomic.Uint64
	log     *slog.Logger
}

func newQueue(size int, what string, o OTLP, log *slog.Logger) *queue {
	return &queue{size: int64(size), what: what, errors: o.Errors, log: log}
}

// admit takes one item, or counts it dropped when size wait.
func (q *queue) admit() bool {
	if q.queued.Add(1) > q.size {
		q.queued.Add(-1)
		q.dropped.Add(1)
		return false
	}
	return true
}

// exported accounts for n items handed to the exporter, which returned
// err. A failure is counted here rather than passed on, so it is not
// counted again by the error handler of the metrics push; the first is
// logged.
func (q *queue) exported(n int, err error) {
	q.queued.Add(-int64(n))
	if err == nil {
		return
	}
	if q.failed.Add(uint64(n)) == uint64(n) {
		q.log.Warn("otlp "+q.what+" export failed; later failures are only counted", "err", err)
	}
	if q.errors != nil {
		q.errors.Add(1)
	}
}

// missed is the items that did not reach the receiver: dropped by a full
// queue, or in an export that failed.
func (q *queue) missed() uint64 { return q.dropped.Load() + q.failed.Load() }
