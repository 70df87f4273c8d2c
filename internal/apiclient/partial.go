package apiclient

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// TrailerUnanswered is the trailer in which a hub names the members and
// agents that did not answer a call whose answer it still sent.
const TrailerUnanswered = "orb8-unanswered"

// PartialError comes with an answer that lacks the parts of some agents:
// the others answered, and their parts are there.
type PartialError struct {
	Unanswered []error
}

func (e *PartialError) Error() string {
	msgs := make([]string, len(e.Unanswered))
	for i, err := range e.Unanswered {
		msgs[i] = err.Error()
	}
	return "partial answer: " + strings.Join(msgs, "; ")
}

func (e *PartialError) Unwrap() []error { return e.Unanswered }

// IsPartial reports whether err only says that some agents did not answer.
func IsPartial(err error) bool {
	var p *PartialError
	return errors.As(err, &p)
}

// SetUnanswered sends what a partial err names as the call's trailer, for
// the caller's Agent client to return as a PartialError; any other error is
// returned as it is.
func SetUnanswered(ctx context.Context, err error) error {
	var p *PartialError
	if !errors.As(err, &p) {
		return err
	}
	md := metadata.MD{}
	for _, e := range p.Unanswered {
		md.Append(TrailerUnanswered, e.Error())
	}
	return grpc.SetTrailer(ctx, md)
}

// unanswered turns a hub's trailer into a PartialError (nil without one).
func unanswered(tr metadata.MD) error {
	msgs := tr.Get(TrailerUnanswered)
	if len(msgs) == 0 {
		return nil
	}
	p := &PartialError{}
	for _, m := range msgs {
		p.Unanswered = append(p.Unanswered, errors.New(m))
	}
	return p
}
