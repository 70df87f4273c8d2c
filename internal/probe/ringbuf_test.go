package probe

import (
	"testing"
	"time"
)

func TestRelaxedPoll(t *testing.T) {
	const ring = 1 << 20
	for _, tc := range []struct {
		name  string
		bytes int
		since time.Duration
		want  time.Duration
	}{
		{"a lone record", 160, 20 * time.Millisecond, relaxedPollMax},
		{"connection storm", 6400, 4 * time.Millisecond, relaxedPollMax},
		{"a storm after a long quiet spell", 800_000, 5 * time.Second, relaxedPollMax},
		{"a quarter of the ring in 20 ms", 1 << 18, 20 * time.Millisecond, 16 * time.Millisecond},
		{"a quarter of the ring in 9 ms", 1 << 18, 9 * time.Millisecond, 8 * time.Millisecond},
		{"a quarter of the ring in 4 ms", 1 << 18, 4 * time.Millisecond, pollInterval},
		{"a quarter of the ring right after a drain", 1 << 18, 100 * time.Microsecond, pollInterval},
		{"the whole ring in 4 ms", 1 << 20, 4 * time.Millisecond, pollInterval},
	} {
		if got := relaxedPoll(tc.bytes, tc.since, ring); got != tc.want {
			t.Errorf("%s: relaxedPoll(%d, %v) = %v, want %v", tc.name, tc.bytes, tc.since, got, tc.want)
		}
	}
}
