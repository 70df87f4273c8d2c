package probe

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf/ringbuf"
)

// pollInterval matches ORB8_WAKEUP_NS in orb8.h: while records flow, the
// kernel wakes the reader at most this often, so the reader polls at it.
const pollInterval = time.Millisecond

// pollDeadline is when the next poll is due. epoll_wait takes whole
// milliseconds and the ring buffer reader rounds down, so a deadline less
// than 1 ms away does not wait at all: the reader would find nothing and go
// idle before ORB8_WAKEUP_NS passed, stranding the records submitted without
// a wakeup in that time until the next wakeup, maybe forever.
func pollDeadline() time.Time { return time.Now().Add(pollInterval + time.Millisecond) }

// ReadRing drains the ring buffer map mapName on its own goroutine and calls
// handle with each record until Close. Records submitted with orb8_submit may
// not wake the reader (see orb8.h); while records flow the reader also polls
// every pollInterval, and once a poll finds nothing it blocks until the next
// wakeup. handle must not keep raw: the buffer is reused.
func (o *Objects) ReadRing(mapName string, handle func(raw []byte)) error {
	m := o.Maps[mapName]
	if m == nil {
		return fmt.Errorf("no ring buffer map %q", mapName)
	}
	rd, err := ringbuf.NewReader(m)
	if err != nil {
		return fmt.Errorf("ring buffer %s: %w", mapName, err)
	}
	o.readers = append(o.readers, rd)
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		var (
			rec    ringbuf.Record
			active bool // polling: records came in the last interval
			got    bool // a record was read since the last poll
		)
		for {
			err := rd.ReadInto(&rec)
			switch {
			case err == nil:
				o.read.Add(1)
				handle(rec.RawSample)
				got = true
				if !active {
					active = true
					rd.SetDeadline(pollDeadline())
				}
			case errors.Is(err, os.ErrDeadlineExceeded):
				if got {
					got = false
					rd.SetDeadline(pollDeadline())
				} else {
					active = false
					rd.SetDeadline(time.Time{})
				}
			case errors.Is(err, ringbuf.ErrClosed), errors.Is(err, os.ErrClosed):
				return
			}
		}
	}()
	return nil
}
