// Package probe is the framework every probe family plugs into: it loads a
// BPF collection program by program (one refused program does not sink the
// others), attaches programs by their section, pumps ring buffers, and
// reports what runs and what was lost.
package probe

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
)

// Probe is one probe family.
type Probe interface {
	// Name is the name users enable and disable the probe by.
	Name() string
	// Start loads and attaches the probe and starts reading its events. An
	// error means the probe does not run; the agent goes on without it.
	Start(ctx context.Context, env Env) error
	// Objects returns the loaded BPF objects, nil before Start or for probes
	// without BPF programs.
	Objects() *Objects
	// Close detaches and unloads everything Start set up.
	Close() error
	// Describe sends the descriptor of every series Collect may send.
	Describe(ch chan<- *prometheus.Desc)
	// Collect sends the probe's series from its aggregated state, at scrape
	// time, between Start and Close. An error means some could not be read
	// (what could be is sent): the agent counts it per probe
	// (orb8_probe_collect_errors_total) and logs the first.
	Collect(ch chan<- prometheus.Metric) error
}

// Degrader is implemented by probes that can run without a feature for a
// reason other than a refused program (a kernel setting off). The agent
// lists each, by feature, among the probe's degraded parts after Start.
type Degrader interface {
	Degraded() map[string]error
}

// Resolver is what probes see of the cgroup resolver: the workloads the
// agent reports on.
type Resolver interface {
	// Visible names the workload of a cgroup id; ok is false for a
	// workload the agent's filters hide, which gets no series or events.
	Visible(id uint64) (w cgroup.Workload, ok bool)
}

// Env is what the agent hands every probe.
type Env struct {
	Resolver Resolver
	Events   *events.Bus
	Log      *slog.Logger
	// CgroupRoot is the cgroup2 mount, for cgroup_skb and sockops programs.
	CgroupRoot string
	// MaxOverhead is the share of one CPU a probe may add to a traced
	// process where what it costs is per call of the process (uprobe traps);
	// 0: DefaultMaxOverhead.
	MaxOverhead float64
}

// DefaultMaxOverhead is the agent's --max-overhead with nothing configured.
const DefaultMaxOverhead = 0.01

// Budget returns MaxOverhead, or its default.
func (e Env) Budget() float64 {
	if e.MaxOverhead <= 0 {
		return DefaultMaxOverhead
	}
	return e.MaxOverhead
}
