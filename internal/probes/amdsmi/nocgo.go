//go:build !cgo

package amdsmi

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/probe"
)

// Probe stands in for the amd-smi probe in builds without cgo: amd-smi is
// a C library, so such a build reports the probe down.
type Probe struct{}

// New returns the stand-in.
func New(Options, string) *Probe { return &Probe{} }

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Start implements probe.Probe.
func (p *Probe) Start(context.Context, probe.Env) error {
	return errors.New("amd-smi needs a cgo build of orb8 (CGO_ENABLED=1)")
}

// Objects implements probe.Probe.
func (p *Probe) Objects() *probe.Objects { return nil }

// Close implements probe.Probe.
func (p *Probe) Close() error { return nil }

// Describe implements probe.Probe.
func (p *Probe) Describe(chan<- *prometheus.Desc) {}

// Collect implements probe.Probe.
func (p *Probe) Collect(chan<- prometheus.Metric) error { return nil }

// CollectShared implements accelerator.Exporter.
func (p *Probe) CollectShared(chan<- prometheus.Metric) {}
