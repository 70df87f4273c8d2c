package tui

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
)

// stream is one WatchEvents stream feeding the UI. Its goroutine hands
// what arrives to the UI through a bounded channel; the UI reads it one
// message at a time (next) and keeps the stream's state (dropped, err).
type stream struct {
	req    *pb.WatchEventsRequest
	ctx    context.Context
	cancel context.CancelFunc
	ch     chan tea.Msg // eventMsg and watchFailedMsg
	// uiDropped is what the UI dropped for falling behind (written by the
	// stream's goroutine).
	uiDropped atomic.Uint64

	// dropped is what the agent reported dropping for the current stream,
	// droppedBefore its drops on the streams that failed before it.
	dropped, droppedBefore uint64
	// err is why the stream last failed; it stays until the reopened
	// stream delivers something.
	err error
}

// Messages of a stream.
type (
	eventMsg struct {
		s   *stream
		msg *pb.WatchEventsResponse
	}
	watchFailedMsg struct {
		s     *stream
		err   error
		retry time.Duration // until the stream is reopened
	}
)

func newStream(parent context.Context, req *pb.WatchEventsRequest) *stream {
	ctx, cancel := context.WithCancel(parent)
	return &stream{req: req, ctx: ctx, cancel: cancel, ch: make(chan tea.Msg, eventBuffer)}
}

// run streams every event into ch until the stream is cancelled; when the
// UI falls behind, events are dropped here (counted in uiDropped) rather
// than blocking the stream. A stream that fails or ends is reopened after a
// delay that doubles from retryMin up to retryMax while it keeps failing;
// each failure reaches the UI.
func (s *stream) run(client apiclient.Client, retryMin, retryMax time.Duration) {
	delay := retryMin
	for {
		opened := time.Now()
		err := client.Watch(s.ctx, s.req, func(msg *pb.WatchEventsResponse) error {
			select {
			case s.ch <- eventMsg{s: s, msg: msg}:
			default:
				s.uiDropped.Add(1)
			}
			return nil
		})
		if s.ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("the agent ended the stream")
		}
		if time.Since(opened) > retryMax { // it had been up: a fresh failure
			delay = retryMin
		}
		select { // a failure is never dropped: the stream is down anyway
		case s.ch <- watchFailedMsg{s: s, err: err, retry: delay}:
		case <-s.ctx.Done():
			return
		}
		select {
		case <-time.After(delay):
		case <-s.ctx.Done():
			return
		}
		delay = min(delay*2, retryMax)
	}
}

// next waits for the stream's next message; nil once it is closed.
func (s *stream) next() tea.Cmd {
	return func() tea.Msg {
		select {
		case msg := <-s.ch:
			return msg
		case <-s.ctx.Done():
			return nil
		}
	}
}

// take records what a message says about the stream itself (a drops
// report, a failure) and returns its event, if it carries one.
func (s *stream) take(msg tea.Msg) *pb.Event {
	switch msg := msg.(type) {
	case eventMsg:
		s.err = nil
		if d := msg.msg.GetDrops(); d != nil {
			s.dropped = d.GetTotal()
		}
		return msg.msg.GetEvent()
	case watchFailedMsg:
		// The next stream counts its drops from zero.
		s.droppedBefore += s.dropped
		s.dropped = 0
		s.err = msg.err
	}
	return nil
}

// lost is every event this UI did not get on the stream: dropped by the
// agent (on this stream and the failed ones before it) or by the UI itself.
func (s *stream) lost() uint64 {
	return s.droppedBefore + s.dropped + s.uiDropped.Load()
}
