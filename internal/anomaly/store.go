package anomaly

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options bound the profiles and say how long they learn.
type Options struct {
	// Learning is each profile's learning window, from when its identity
	// is first seen; then the profile is frozen.
	Learning time.Duration
	// MaxProfiles bounds the identities profiled; MaxItems each set of a
	// profile (of what it learned, and of the anomalies it raised).
	MaxProfiles int
	MaxItems    int
	// Minute is the rate model's minute: the time its features are
	// counted over. Only an evaluation in compressed time shortens it.
	Minute time.Duration
}

// DefaultOptions learn for a day; 4096 profiles of 256 items a set stay
// under a few tens of MiB in the worst case.
func DefaultOptions() Options {
	return Options{Learning: 24 * time.Hour, MaxProfiles: 4096, MaxItems: 256, Minute: time.Minute}
}

// Profile is one identity's profile, as the state file and the API have it.
type Profile struct {
	Identity  Identity  `json:"identity"`
	FirstSeen time.Time `json:"firstSeen"`
	// LearnUntil ends the learning window: from then on the profile is
	// frozen and new items are anomalies.
	LearnUntil time.Time `json:"learnUntil"`
	LastSeen   time.Time `json:"lastSeen"`
	// Items are what the profile learned, by kind, sorted.
	Items map[Kind][]string `json:"items,omitempty"`
	// Anomalies are the items raised as anomalies since, each once.
	Anomalies map[Kind][]Raised `json:"anomalies,omitempty"`
	// Overflow counts items not kept because their set was full: not
	// learned while learning, not raised (nor remembered) after.
	Overflow map[Kind]uint64 `json:"overflow,omitempty"`
	// Rates are the baselines of the rate model, by feature.
	Rates map[Feature]Baseline `json:"rates,omitempty"`
}

// Raised is an item raised as an anomaly, and when.
type Raised struct {
	Item string    `json:"item"`
	Time time.Time `json:"time"`
}

// Learning reports whether the profile still learns at t.
func (p *Profile) Learning(t time.Time) bool { return t.Before(p.LearnUntil) }

// profile is a Profile as the store keeps it: sets to look items up in.
type profile struct {
	id                              Identity
	firstSeen, learnUntil, lastSeen time.Time
	learned                         map[Kind]map[string]struct{}
	raised                          map[Kind]map[string]time.Time
	overflow                        map[Kind]uint64
	rates                           *rates // nil until its first sample
}

func newProfile(id Identity, first time.Time, learning time.Duration) *profile {
	return &profile{id: id, firstSeen: first, learnUntil: first.Add(learning), lastSeen: first,
		learned: map[Kind]map[string]struct{}{}, raised: map[Kind]map[string]time.Time{}, overflow: map[Kind]uint64{}}
}

// Store holds the profiles of one node. It is safe for concurrent use.
type Store struct {
	mu       sync.Mutex
	opts     Options
	profiles map[string]*profile // by Identity.String()
	// dropped counts identities not profiled: the store was full.
	dropped uint64
	// overflow counts items not kept, of every profile (reset ones too).
	overflow map[Kind]uint64
	// version changes with every change worth saving.
	version uint64
}

// NewStore returns an empty store; a zero Minute is a minute.
func NewStore(opts Options) *Store {
	if opts.Minute <= 0 {
		opts.Minute = time.Minute
	}
	return &Store{opts: opts, profiles: map[string]*profile{}, overflow: map[Kind]uint64{}}
}

// Observe records that the workload of id showed item of kind k at time
// at, and reports whether that is an anomaly: an item its frozen profile
// neither learned nor raised before. An identity first seen starts its
// profile, learning from at.
func (s *Store) Observe(id Identity, k Kind, item string, at time.Time) bool {
	if item == "" {
		return false
	}
	if len(item) > maxItemLen {
		item = item[:maxItemLen]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.profileFor(id, at)
	if p == nil {
		return false
	}
	if p.knows(k, item) {
		return false
	}
	if at.Before(p.learnUntil) {
		s.learn(p, k, item)
		return false
	}
	if _, ok := p.raised[k][item]; ok {
		return false
	}
	if len(p.raised[k]) >= s.opts.MaxItems {
		s.overflowed(p, k)
		return false
	}
	if p.raised[k] == nil {
		p.raised[k] = map[string]time.Time{}
	}
	p.raised[k][item] = at
	s.version++
	return true
}

// profileFor is the profile of id, started at at when there is none yet;
// nil when the store is full. Its last event is at at the latest.
func (s *Store) profileFor(id Identity, at time.Time) *profile {
	key := id.String()
	p := s.profiles[key]
	if p == nil {
		if len(s.profiles) >= s.opts.MaxProfiles {
			s.dropped++
			return nil
		}
		p = newProfile(id, at, s.opts.Learning)
		s.profiles[key] = p
		s.version++
	}
	if at.After(p.lastSeen) {
		p.lastSeen = at
	}
	return p
}

// knows reports whether the profile learned item, itself or its block.
func (p *profile) knows(k Kind, item string) bool {
	set := p.learned[k]
	if _, ok := set[item]; ok {
		return true
	}
	if k != NewPeer {
		return false
	}
	block := blockOf(item)
	_, ok := set[block]
	return block != "" && ok
}

// learn adds item to the profile's set of k; a peer address that makes its
// block's fan-out too large is learned as the block.
func (s *Store) learn(p *profile, k Kind, item string) {
	set := p.learned[k]
	if set == nil {
		set = map[string]struct{}{}
		p.learned[k] = set
	}
	if block := blockOf(item); k == NewPeer && block != "" {
		var same []string
		for x := range set {
			if blockOf(x) == block {
				same = append(same, x)
			}
		}
		if len(same) >= fanOut {
			for _, x := range same {
				delete(set, x)
			}
			item = block
		}
	}
	if len(set) >= s.opts.MaxItems {
		s.overflowed(p, k)
		return
	}
	set[item] = struct{}{}
	s.version++
}

func (s *Store) overflowed(p *profile, k Kind) {
	p.overflow[k]++
	s.overflow[k]++
	s.version++
}

// Profiles are every profile, ordered by identity.
func (s *Store) Profiles() []Profile {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Profile, 0, len(s.profiles))
	for _, p := range s.profiles {
		out = append(out, p.view())
	}
	slices.SortFunc(out, func(a, b Profile) int { return strings.Compare(a.Identity.String(), b.Identity.String()) })
	return out
}

// Profile is the profile of the identity named id (Identity.String).
func (s *Store) Profile(id string) (Profile, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.profiles[id]
	if !ok {
		return Profile{}, false
	}
	return p.view(), true
}

// Reset forgets the profile of id: the identity learns anew from its
// next event. False when there is none.
func (s *Store) Reset(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.profiles[id]; !ok {
		return false
	}
	delete(s.profiles, id)
	s.version++
	return true
}

// Relearn opens the profile of id to learning again for a window from now,
// keeping what it learned; the anomalies it raised become learned items.
// False when there is none.
func (s *Store) Relearn(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.profiles[id]
	if !ok {
		return false
	}
	for k, items := range p.raised {
		for item := range items {
			s.learn(p, k, item)
		}
	}
	p.raised = map[Kind]map[string]time.Time{}
	p.learnUntil = now.Add(s.opts.Learning)
	s.version++
	return true
}

// Counts are the store's gauges and counters: profiles learning and frozen
// at now, identities not profiled, and items not kept by kind.
func (s *Store) Counts(now time.Time) (learning, frozen int, dropped uint64, overflow map[Kind]uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.profiles {
		if now.Before(p.learnUntil) {
			learning++
		} else {
			frozen++
		}
	}
	overflow = make(map[Kind]uint64, len(s.overflow))
	for k, n := range s.overflow {
		overflow[k] = n
	}
	return learning, frozen, s.dropped, overflow
}

// Version changes whenever the profiles changed in a way a save keeps.
func (s *Store) Version() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

func (p *profile) view() Profile {
	out := Profile{Identity: p.id, FirstSeen: p.firstSeen, LearnUntil: p.learnUntil, LastSeen: p.lastSeen}
	for _, k := range Kinds {
		if set := p.learned[k]; len(set) > 0 {
			if out.Items == nil {
				out.Items = map[Kind][]string{}
			}
			items := make([]string, 0, len(set))
			for x := range set {
				items = append(items, x)
			}
			slices.Sort(items)
			out.Items[k] = items
		}
		if raised := p.raised[k]; len(raised) > 0 {
			if out.Anomalies == nil {
				out.Anomalies = map[Kind][]Raised{}
			}
			list := make([]Raised, 0, len(raised))
			for x, t := range raised {
				list = append(list, Raised{Item: x, Time: t})
			}
			slices.SortFunc(list, func(a, b Raised) int { return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.Item, b.Item)) })
			out.Anomalies[k] = list
		}
		if n := p.overflow[k]; n > 0 {
			if out.Overflow == nil {
				out.Overflow = map[Kind]uint64{}
			}
			out.Overflow[k] = n
		}
	}
	if p.rates != nil && len(p.rates.baselines) > 0 {
		out.Rates = make(map[Feature]Baseline, len(p.rates.baselines))
		for f, b := range p.rates.baselines {
			out.Rates[f] = *b
		}
	}
	return out
}
