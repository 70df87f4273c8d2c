package cli

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// streamLag is how long a streamed line may wait in the buffer. A storm
// arrives in batches of tens of events a few milliseconds apart; a write
// per line cost `orb8 trace` and a pipe's reader a fifth of their CPU
// (docs/benchmarks.md, "The client's output: one write per burst"), while a
// person or a pipe sees no difference at 20 ms.
const streamLag = 20 * time.Millisecond

// lagWriter buffers a stream's output and writes it out at most lag after
// the first byte that waits: one write per burst instead of one per line.
// A line shorter than the buffer goes out in one write, as before. After a
// failed write every Write and Flush returns that error, and a failure in
// the background calls failed, so a quiet stream ends too.
type lagWriter struct {
	lag    time.Duration
	failed func()

	mu    sync.Mutex
	w     *bufio.Writer
	armed bool // a flush is scheduled
	err   error
}

func newLagWriter(w io.Writer, lag time.Duration, failed func()) *lagWriter {
	return &lagWriter{lag: lag, failed: failed, w: bufio.NewWriterSize(w, 64<<10)}
}

func (l *lagWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil && l.w.Available() < len(p) && l.w.Buffered() > 0 {
		l.err = l.w.Flush() // keep p whole
	}
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.w.Write(p)
	if err != nil {
		l.err = err
		return n, err
	}
	if !l.armed && l.w.Buffered() > 0 {
		l.armed = true
		time.AfterFunc(l.lag, func() {
			if l.Flush() != nil && l.failed != nil {
				l.failed()
			}
		})
	}
	return n, nil
}

// Flush writes out what waits; the stream's end must call it.
func (l *lagWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed = false
	if l.err == nil {
		l.err = l.w.Flush()
	}
	return l.err
}
