package probe

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf/ringbuf"
)

// ReadRing drains the ring buffer map mapName on its own goroutine and calls
// handle with each record until Close. The kernel wakes the reader only when
// the ring was empty, so under load each wakeup drains a batch of records.
// handle must not keep raw: the buffer is reused.
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
		var rec ringbuf.Record
		for {
			if err := rd.ReadInto(&rec); err != nil {
				if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
					return
				}
				continue
			}
			o.read.Add(1)
			handle(rec.RawSample)
		}
	}()
	return nil
}
