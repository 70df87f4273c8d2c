package anomaly

import (
	"time"

	"github.com/orb8/orb8/internal/cgroup"
)

// Count adds what one event of workload w shows to the current minute of
// its identity's rate model, and returns the anomalies of the minutes it
// closed (those before the event's, when no Tick closed them yet). An
// identity first seen starts its profile, learning from at.
func (s *Store) Count(id Identity, w *cgroup.Workload, smp *Sample, at time.Time) []RateAnomaly {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.profileFor(id, at)
	if p == nil {
		return nil
	}
	if p.rates == nil {
		p.rates = newRates()
	}
	r := p.rates
	idx := s.minuteOf(at)
	var out []RateAnomaly
	if r.curIdx == 0 {
		r.curIdx = idx
	} else if idx > r.curIdx {
		out = s.advance(p, idx)
	}
	// A late event (of a minute closed already) counts in the current one.
	r.cur.add(smp)
	r.lastEvent = r.curIdx
	r.workload = *w
	return out
}

// minGrace is the least time Tick leaves events on their way: the grace
// of a minute shortened to compress time is still that long.
const minGrace = 2 * time.Second

// Tick closes, for every profile, the minutes that ended a minute (at
// least minGrace) before now, for events still on their way, and returns
// the anomalies that opened episodes.
func (s *Store) Tick(now time.Time) []RateAnomaly {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.minuteOf(now.Add(-max(s.opts.Minute, minGrace)))
	var out []RateAnomaly
	for _, p := range s.profiles {
		if p.rates != nil && p.rates.curIdx != 0 && p.rates.curIdx < idx {
			out = append(out, s.advance(p, idx)...)
		}
	}
	return out
}

// minuteOf is the index of the model's minute at t.
func (s *Store) minuteOf(t time.Time) int64 { return t.UnixNano() / int64(s.opts.Minute) }

// advance closes the minutes of p from the current one up to idx
// (excluded). Past dormantMinutes without a sample the rest are skipped:
// the workload is gone and its idle minutes are not learned.
func (s *Store) advance(p *profile, idx int64) []RateAnomaly {
	r := p.rates
	var out []RateAnomaly
	for r.curIdx < idx {
		if r.curIdx-r.lastEvent > dormantMinutes {
			r.curIdx = idx
			break
		}
		start := time.Unix(0, r.curIdx*int64(s.opts.Minute))
		if a, ok := r.closeMinute(p.id, s.opts.Minute, start.Before(p.learnUntil)); ok {
			out = append(out, a)
		}
	}
	s.version++
	return out
}
