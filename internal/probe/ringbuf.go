package probe

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// pollInterval matches ORB8_WAKEUP_NS in orb8.h: while records flow, the
// kernel wakes the reader at most this often, so the reader polls at it.
const pollInterval = 4 * time.Millisecond

// relaxedPollMax is the longest a relaxed reader lets records wait
// (RelaxWakeups): 8 times fewer wakeups than pollInterval in a storm, each
// a goroutine switch or more (~100 us of the agent's CPU in a VM).
const relaxedPollMax = 32 * time.Millisecond

// wakeupVar is the kernel's wakeup interval of the object's rings (orb8.h).
const wakeupVar = "orb8_wakeup_ns"

// ring is one ring buffer map being read on its own goroutine.
//
// The reader never blocks in a system call. A Go thread blocked in a syscall
// keeps its P for up to 10 ms, and all that time the runtime's sysmon thread,
// which otherwise sleeps, wakes every 20-40 us to look at it: a reader
// blocked in epoll_wait between records cost ~25 sysmon wakeups per exec and
// doubled the agent's CPU while exec events were streamed at 50/s
// (docs/benchmarks.md, "API and events"). So the reader waits for the
// kernel's wakeup in Go's netpoller (wake, with a read deadline for polls)
// and reads only when records are there.
type ring struct {
	rd      *ringbuf.Reader
	wake    *os.File      // a dup of the map's fd in Go's netpoller: readable on each kernel wakeup
	size    int           // bytes the ring holds
	done    chan struct{} // closed when the reading goroutine returned
	closing atomic.Bool
	// stopped is why the reader stopped before Close: a failed wait, or a
	// handler that panicked. Its probe then counts nothing more, and says so.
	stopped atomic.Pointer[error]

	mu    sync.Mutex
	syncs []chan struct{} // Sync calls waiting for the next drain
	poll  time.Duration   // the reader's poll interval while records flow; Objects.paceMu guards it
}

func newRing(m *ebpf.Map) (*ring, error) {
	rd, err := ringbuf.NewReader(m)
	if err != nil {
		return nil, err
	}
	// Reads never wait in the kernel: a deadline in the past makes ReadInto
	// return os.ErrDeadlineExceeded once the ring is drained.
	rd.SetDeadline(time.Unix(1, 0))
	fd, err := unix.FcntlInt(uintptr(m.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		rd.Close()
		return nil, err
	}
	// Non-blocking, so that os.NewFile hands it to the netpoller.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		rd.Close()
		return nil, err
	}
	r := &ring{rd: rd, wake: os.NewFile(uintptr(fd), m.String()), size: int(m.MaxEntries()), done: make(chan struct{}), poll: pollInterval}
	if err := r.wake.SetReadDeadline(time.Time{}); err != nil { // not in the netpoller
		r.wake.Close()
		rd.Close()
		return nil, err
	}
	return r, nil
}

// ReadRing drains the ring buffer map m (from the probe's generated objects)
// on its own goroutine and calls handle with each record until Close.
// Records submitted with orb8_submit may not wake the reader (see orb8.h);
// while records flow the reader also polls, every pollInterval or, relaxed
// (RelaxWakeups), up to relaxedPollMax, and once a poll finds nothing it
// waits for the next wakeup. handle must not keep raw: the buffer is reused.
func (o *Objects) ReadRing(m *ebpf.Map, handle func(raw []byte)) error {
	if m == nil {
		return errors.New("ring buffer map not loaded")
	}
	r, err := newRing(m)
	if err != nil {
		return fmt.Errorf("ring buffer %s: %w", m, err)
	}
	wake, err := r.wake.SyscallConn()
	if err != nil {
		r.wake.Close()
		r.rd.Close()
		return fmt.Errorf("ring buffer %s: %w", m, err)
	}
	o.paceMu.Lock()
	o.readers = append(o.readers, r)
	o.paceMu.Unlock()
	go func() {
		defer close(r.done)
		defer func() {
			if p := recover(); p != nil {
				r.stop(fmt.Errorf("ring buffer %s: the record handler panicked: %v", m, p))
			}
		}()
		var (
			rec       ringbuf.Record
			poll      time.Time // next poll while records flow; zero: idle
			lastDrain time.Time
		)
		for {
			syncs := r.takeSyncs() // made before this drain: it serves them
			// Clock reads: before an empty drain, after one with records,
			// so that going idle is safe (below).
			start := time.Now()
			if bytes := r.drain(&rec, handle, &o.read); bytes > 0 {
				poll = time.Now().Add(o.pace(r, bytes, start.Sub(lastDrain)))
			} else if !poll.IsZero() && start.After(poll) {
				// Nothing for a poll interval after the last records, so
				// since the last wakeup (the kernel's interval is never
				// longer, see pace): any later record wakes the reader.
				poll = time.Time{}
			}
			lastDrain = start
			for _, done := range syncs {
				close(done)
			}
			// Until a wakeup, or the poll; a record that came since the
			// drain ends the wait at once. Close makes Read fail. A Sync
			// made after takeSyncs is either seen here or, made after this
			// check, moves the deadline past after this sets it.
			r.wake.SetReadDeadline(poll)
			if r.syncWaiting() {
				continue
			}
			err := wake.Read(func(uintptr) bool { return r.rd.AvailableBytes() > 0 })
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				if !r.closing.Load() {
					r.stop(fmt.Errorf("ring buffer %s: reader stopped: %w", m, err))
				}
				return
			}
		}
	}()
	return nil
}

// drain hands every record in the ring to handle and returns their size.
//
// It reads only while the ring holds bytes. The reader's ReadInto, once it
// finds the ring empty, asks epoll (a syscall, timeout 0) before saying so,
// twice per drain; a syscall wakes the runtime's sysmon from its deep sleep
// into ~1 ms of polling every 20 us, so at one drain per pollInterval it
// never slept: a quarter of the agent's CPU under a connection storm. A
// discarded last record still ends in that path (os.ErrDeadlineExceeded,
// taken as drained), and so does an error, which the next drain retries.
func (r *ring) drain(rec *ringbuf.Record, handle func(raw []byte), read *atomic.Uint64) (bytes int) {
	for r.rd.AvailableBytes() > 0 && r.rd.ReadInto(rec) == nil {
		read.Add(1)
		handle(rec.RawSample)
		bytes += len(rec.RawSample) + 8 // and the record's header
	}
	return bytes
}

// RelaxWakeups lets the readers of the object's rings, while prompt says
// that nobody waits for their records, let records gather for up to
// relaxedPollMax (less where the ring would fill a quarter at the last
// drain's rate) and has the kernel wake them as rarely: a connection storm
// read every 4 ms cost the agent more in wakeups than in records. Callers
// that need what the records say now call Sync first. Call it before
// ReadRing.
func (o *Objects) RelaxWakeups(prompt func() bool) { o.prompt = prompt }

// pace is how long the reader of r waits before its next poll, after a
// drain of bytes that gathered over since, and keeps the kernel's wakeup
// interval no longer than any of the object's readers' poll intervals:
// lowered before a reader uses a shorter one, raised after.
func (o *Objects) pace(r *ring, bytes int, since time.Duration) time.Duration {
	want := pollInterval
	if o.prompt != nil && !o.prompt() {
		want = relaxedPoll(bytes, since, r.size)
	}
	o.paceMu.Lock()
	defer o.paceMu.Unlock()
	if want == r.poll {
		return want
	}
	r.poll = want
	kernel := want
	for _, other := range o.readers {
		kernel = min(kernel, other.poll)
	}
	if now := max(o.wakeup, pollInterval); kernel != now {
		if v := o.vars[wakeupVar]; v == nil || v.Set(uint64(kernel)) != nil {
			r.poll = max(want, now) // the kernel's interval stays: no reader may poll sooner
			return r.poll
		}
		o.wakeup = kernel
	}
	return want
}

// relaxedPoll is a relaxed reader's poll interval after a drain of bytes
// that gathered over since, from a ring of size bytes: relaxedPollMax, or
// the power of two times pollInterval under it that fills no more than a
// quarter of the ring at that rate.
func relaxedPoll(bytes int, since time.Duration, size int) time.Duration {
	// The rate over at least a poll interval: a drain right after another
	// would see a few records as a burst.
	since = min(max(since, pollInterval), time.Second)
	fill := time.Duration(float64(since) * float64(size/4) / float64(bytes))
	if fill >= relaxedPollMax {
		return relaxedPollMax
	}
	poll := pollInterval
	for poll*2 <= fill { // few distinct values: few kernel updates
		poll *= 2
	}
	return poll
}

// Sync has the reader of each of the object's rings drain its ring and
// returns once each has, or has stopped: what was submitted before the call
// has been handled.
func (o *Objects) Sync() {
	o.paceMu.Lock()
	readers := slices.Clone(o.readers)
	o.paceMu.Unlock()
	for _, r := range readers {
		r.sync()
	}
}

func (r *ring) sync() {
	done := make(chan struct{})
	r.mu.Lock()
	r.syncs = append(r.syncs, done)
	r.mu.Unlock()
	r.wake.SetReadDeadline(time.Unix(1, 0)) // ends the reader's wait
	select {
	case <-done:
	case <-r.done:
	}
}

func (r *ring) takeSyncs() []chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	syncs := r.syncs
	r.syncs = nil
	return syncs
}

func (r *ring) syncWaiting() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.syncs) > 0
}

func (r *ring) stop(err error) { r.stopped.Store(&err) }

// Stopped is why a ring buffer reader of the probe stopped on its own, nil
// while they all run: a probe whose reader stopped is down.
func (o *Objects) Stopped() error {
	for _, r := range o.readers {
		if err := r.stopped.Load(); err != nil {
			return *err
		}
	}
	return nil
}

// Close stops the goroutine, then frees the reader it used.
func (r *ring) Close() error {
	r.closing.Store(true)
	r.wake.Close() // fails the goroutine's wait
	<-r.done
	return r.rd.Close()
}
