package cli

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingWriter records what reaches it and in how many writes.
type countingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	err    error
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	w.writes++
	return w.buf.Write(p)
}

func (w *countingWriter) state() (string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String(), w.writes
}

// A burst of lines waits in the buffer and goes out in one write.
func TestLagWriterWritesABurstOnce(t *testing.T) {
	under := &countingWriter{}
	l := newLagWriter(under, time.Hour, nil)
	var want strings.Builder
	for i := range 1000 {
		line := strings.Repeat("x", i%40) + "\n"
		want.WriteString(line)
		if _, err := l.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if got, writes := under.state(); writes != 0 {
		t.Fatalf("%d writes (%d bytes) before the lag, want none", writes, len(got))
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, writes := under.state(); got != want.String() || writes != 1 {
		t.Fatalf("after Flush: %d writes of %d bytes, want 1 of %d", writes, len(got), want.Len())
	}
}

// A line reaches the output after the lag without a Flush, and so does
// the next one, which waits a lag of its own.
func TestLagWriterWritesAfterTheLag(t *testing.T) {
	under := &countingWriter{}
	l := newLagWriter(under, 20*time.Millisecond, nil)
	want := ""
	for _, line := range []string{"first\n", "second\n"} {
		if _, err := l.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
		want += line
		deadline := time.Now().Add(5 * time.Second)
		for got, _ := under.state(); got != want; got, _ = under.state() {
			if time.Now().After(deadline) {
				t.Fatalf("5 s after writing %q the output holds %q", line, got)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// A line that does not fit what the buffer has left goes out whole, in a
// write after what waited, never split across two.
func TestLagWriterKeepsLinesWhole(t *testing.T) {
	under := &countingWriter{}
	l := newLagWriter(under, time.Hour, nil)
	first := strings.Repeat("a", 64<<10-10) + "\n"
	line := strings.Repeat("b", 99) + "\n"
	for _, p := range []string{first, line} {
		if _, err := l.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if got, writes := under.state(); got != first || writes != 1 {
		t.Fatalf("before Flush: %d writes of %d bytes, want 1 of %d", writes, len(got), len(first))
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, writes := under.state(); got != first+line || writes != 2 {
		t.Fatalf("after Flush: %d writes of %d bytes, want 2 of %d", writes, len(got), len(first+line))
	}
}

// Once the output fails (a full disk), every Write and Flush says so, and
// a failure of the flush after the lag calls failed: a quiet stream, with
// nothing more to write, ends too.
func TestLagWriterReportsAFailedWrite(t *testing.T) {
	broken := errors.New("no space left on device")
	under := &countingWriter{err: broken}
	failed := make(chan struct{})
	l := newLagWriter(under, 10*time.Millisecond, func() { close(failed) })
	if _, err := l.Write([]byte("line\n")); err != nil {
		t.Fatalf("buffered write: %v", err)
	}
	select {
	case <-failed:
	case <-time.After(5 * time.Second):
		t.Fatal("the flush after the lag failed without a word")
	}
	if _, err := l.Write([]byte("more\n")); !errors.Is(err, broken) {
		t.Fatalf("Write after a failed flush = %v, want %v", err, broken)
	}
	if err := l.Flush(); !errors.Is(err, broken) {
		t.Fatalf("Flush = %v, want %v", err, broken)
	}
}
