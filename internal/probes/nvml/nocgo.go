//go:build !cgo

package nvml

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/probe"
)

// Probe stands in for the NVML probe in builds without cgo: NVML is a C
// library, so such a build reports the probe down.
type Probe struct{}

// New returns the stand-in.
func New(Options) *Probe { return &Probe{} }

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Start implements probe.Probe.
func (p *Probe) Start(context.Context, probe.Env) error {
	return errors.New("NVML needs a cgo build of orb8 (CGO_ENABLED=1)")
}

// Objects implements probe.Probe.
func (p *Probe) Objects() *probe.Objects { return nil }

// Close implements probe.Probe.
func (p *Probe) Close() error { return nil }

// Describe implements probe.Probe.
func (p *Probe) Describe(chan<- *prometheus.Desc) {}

// Collect implements probe.Probe.
func (p *Probe) Collect(chan<- prometheus.Metric) error { return nil }
