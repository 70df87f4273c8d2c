package anomaly

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// StateFile is the profiles' file in the state directory.
const StateFile = "profiles.json"

// stateVersion is the state file's format; a file of another is refused.
const stateVersion = 1

// maxStateBytes bounds the state file read back: far above what the
// store's bounds let it write.
const maxStateBytes = 512 << 20

// state is the state file: a JSON object with the format version and
// every profile.
type state struct {
	Version  int       `json:"version"`
	Profiles []Profile `json:"profiles"`
}

// Decode reads a state file, and fails on anything malformed: not JSON,
// another version, an unknown field or kind, an invalid identity, an
// empty or oversized item, a duplicate profile.
func Decode(r io.Reader) ([]Profile, error) {
	dec := json.NewDecoder(io.LimitReader(r, maxStateBytes+1))
	dec.DisallowUnknownFields()
	var st state
	if err := dec.Decode(&st); err != nil {
		return nil, err
	}
	if dec.InputOffset() > maxStateBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxStateBytes)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the state object")
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("format version %d, this agent reads %d", st.Version, stateVersion)
	}
	seen := map[string]bool{}
	for i := range st.Profiles {
		p := &st.Profiles[i]
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("profile %d (%q): %w", i, p.Identity.String(), err)
		}
		if seen[p.Identity.String()] {
			return nil, fmt.Errorf("profile %d: %q appears twice", i, p.Identity.String())
		}
		seen[p.Identity.String()] = true
	}
	return st.Profiles, nil
}

func (p *Profile) check() error {
	if !p.Identity.valid() {
		return errors.New("invalid identity")
	}
	if p.FirstSeen.IsZero() || p.LearnUntil.Before(p.FirstSeen) {
		return errors.New("invalid learning window")
	}
	item := func(x string) error {
		if x == "" || len(x) > maxItemLen {
			return fmt.Errorf("item of %d bytes", len(x))
		}
		return nil
	}
	for k, items := range p.Items {
		if !k.known() {
			return fmt.Errorf("unknown kind %q", k)
		}
		for _, x := range items {
			if err := item(x); err != nil {
				return err
			}
		}
	}
	for k, raised := range p.Anomalies {
		if !k.known() {
			return fmt.Errorf("unknown kind %q", k)
		}
		for _, r := range raised {
			if err := item(r.Item); err != nil {
				return err
			}
		}
	}
	for k := range p.Overflow {
		if !k.known() {
			return fmt.Errorf("unknown kind %q", k)
		}
	}
	for f, b := range p.Rates {
		if !f.known() {
			return fmt.Errorf("unknown rate feature %q", f)
		}
		if !b.valid() {
			return fmt.Errorf("rate feature %q: invalid baseline %+v", f, b)
		}
	}
	return nil
}

// Restore adds decoded profiles to the store, within its bounds: profiles
// past MaxProfiles and items past MaxItems are counted, not kept.
func (s *Store) Restore(profiles []Profile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range profiles {
		v := &profiles[i]
		key := v.Identity.String()
		if _, ok := s.profiles[key]; !ok && len(s.profiles) >= s.opts.MaxProfiles {
			s.dropped++
			continue
		}
		p := newProfile(v.Identity, v.FirstSeen, 0)
		p.learnUntil, p.lastSeen = v.LearnUntil, v.LastSeen
		for k, n := range v.Overflow {
			p.overflow[k] = n
		}
		for k, items := range v.Items {
			p.learned[k] = map[string]struct{}{}
			for _, x := range items {
				if len(p.learned[k]) >= s.opts.MaxItems {
					s.overflowed(p, k)
					continue
				}
				p.learned[k][x] = struct{}{}
			}
		}
		for k, raised := range v.Anomalies {
			p.raised[k] = map[string]time.Time{}
			for _, r := range raised {
				if len(p.raised[k]) >= s.opts.MaxItems {
					s.overflowed(p, k)
					continue
				}
				p.raised[k][r.Item] = r.Time
			}
		}
		if len(v.Rates) > 0 {
			p.rates = newRates()
			for f, b := range v.Rates {
				p.rates.baselines[f] = &b
			}
		}
		s.profiles[key] = p
	}
}

// Save writes every profile to dir's state file, atomically: a new file
// synced and renamed over the old one, so a crash leaves one or the other.
// It returns the version saved.
func (s *Store) Save(dir string) (uint64, error) {
	version := s.Version()
	st := state{Version: stateVersion, Profiles: s.Profiles()}
	tmp, err := os.CreateTemp(dir, "."+StateFile+"-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, nothing there
	w := bufio.NewWriter(tmp)
	err = json.NewEncoder(w).Encode(st)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, StateFile))
	}
	if err != nil {
		return 0, fmt.Errorf("save profiles: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename itself reaches the disk
		d.Close()
	}
	return version, nil
}

// CorruptError is a state file that could not be read back; the agent
// starts without its profiles, the file kept aside as Kept.
type CorruptError struct {
	Path, Kept string
	Err        error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("state file %s is corrupt (%v): profiles start anew, the file is kept as %s", e.Path, e.Err, e.Kept)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Load restores the profiles of dir's state file; none when there is no
// file. A corrupt file is moved aside (a *CorruptError says where) so the
// next save does not destroy what someone may want to look at.
func (s *Store) Load(dir string) error {
	path := filepath.Join(dir, StateFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load profiles: %w", err)
	}
	profiles, err := Decode(f)
	f.Close()
	if err != nil {
		kept := path + ".corrupt"
		if rerr := os.Rename(path, kept); rerr != nil {
			return fmt.Errorf("state file %s is corrupt (%v) and cannot be moved aside: %w", path, err, rerr)
		}
		return &CorruptError{Path: path, Kept: kept, Err: err}
	}
	s.Restore(profiles)
	return nil
}
