package probe

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
)

// MaxSampleRate is the coarsest sampling a Sampler is asked for.
const MaxSampleRate = 1024

// Sampler is implemented by probes that can shed the per-record work of
// user space while the agent is over its budget (--max-overhead): at rate N
// one record in N reaches user space and counts as N there; counters kept
// in the kernel stay exact.
type Sampler interface {
	// SetSampleRate sets N, a power of two from 1 (every record) to
	// MaxSampleRate.
	SetSampleRate(n uint32) error
	// SampleRate is the rate in force.
	SampleRate() uint32
	// Records is how many records user space has taken from the kernel.
	Records() uint64
}

// Sampling implements Sampler for a probe whose BPF object includes
// orb8_sample.h: embed it, and Use the object's orb8_sample_every.
type Sampling struct {
	mu      sync.Mutex
	every   *ebpf.Variable // nil before Use
	rate    uint32
	records atomic.Uint64
}

// Took counts one record taken from the kernel: call it from the reader.
func (s *Sampling) Took() { s.records.Add(1) }

// Records implements Sampler.
func (s *Sampling) Records() uint64 { return s.records.Load() }

// Use takes the probe's loaded variable; the rate starts at 1.
func (s *Sampling) Use(every *ebpf.Variable) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.every, s.rate = every, 1
}

// SetSampleRate implements Sampler.
func (s *Sampling) SetSampleRate(n uint32) error {
	if n == 0 || n > MaxSampleRate || n&(n-1) != 0 {
		return fmt.Errorf("sample rate %d is not a power of two from 1 to %d", n, MaxSampleRate)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.every == nil {
		return fmt.Errorf("the probe has not started")
	}
	if err := s.every.Set(n); err != nil {
		return err
	}
	s.rate = n
	return nil
}

// SampleRate implements Sampler.
func (s *Sampling) SampleRate() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.rate, 1)
}
