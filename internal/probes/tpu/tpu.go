// Package tpu is the Google TPU probe: it finds the TPU workloads of the
// node (processes that mapped libtpu, in a network namespace where
// libtpu's RuntimeMetricService listens), polls that service from inside
// the workload's namespace, and exports its gauges (HBM used and total,
// TensorCore duty cycle, and the others it lists) per workload and chip;
// and, from the kubelet, which pod holds which chip. No BPF: a host
// without a TPU gets an error from Start, and the probe reports down.
package tpu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/orb8/orb8/internal/accelerator"
	"github.com/orb8/orb8/internal/gpu"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/tick"
)

// Probe polls the TPU workloads' metrics services and exports the last
// poll's series.
type Probe struct {
	accelerator.Series // the last poll's series; a scrape only sends them

	opts Options
	proc string // procfs mount: processes, their maps and namespaces
	sys  string // sysfs mount: the TPU's PCI functions
	env  probe.Env
	pods *gpu.PodResources

	mu     sync.Mutex
	errors map[string]uint64 // orb8_tpu_poll_errors_total by reason
	conns  map[endpoint]*grpc.ClientConn

	stop func() // ends the polls
}

// New returns an unstarted TPU probe of this host; podResourcesSocket is
// the kubelet's pod-resources API (absent: no chip-to-pod allocation).
func New(opts Options, podResourcesSocket string) *Probe {
	return newProbe(opts, podResourcesSocket, "/proc", "/sys")
}

func newProbe(opts Options, podResourcesSocket, proc, sys string) *Probe {
	return &Probe{opts: opts, proc: proc, sys: sys, pods: gpu.NewPodResources(podResourcesSocket),
		errors: map[string]uint64{}, conns: map[endpoint]*grpc.ClientConn{}}
}

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe: the TPU probe needs no BPF.
func (p *Probe) Objects() *probe.Objects { return nil }

// Start implements probe.Probe: it fails on a host without a TPU.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	if err := hasTPU(p.sys); err != nil {
		return err
	}
	p.env = env
	ctx, cancel := context.WithCancel(ctx)
	p.poll(ctx)
	stop := tick.Every(ctx, max(p.opts.Interval, time.Second), func(time.Time) { p.poll(ctx) })
	p.stop = func() { cancel(); stop() } // cancel first: a poll in progress ends early
	return nil
}

// googlePCIVendor is Google's PCI vendor id, which TPU chips carry.
const googlePCIVendor = "0x1ae0"

// hasTPU looks for a TPU chip among the host's PCI functions.
func hasTPU(sys string) error {
	vendors, _ := filepath.Glob(filepath.Join(sys, "bus", "pci", "devices", "*", "vendor"))
	for _, v := range vendors {
		if b, err := os.ReadFile(v); err == nil && strings.TrimSpace(string(b)) == googlePCIVendor {
			return nil
		}
	}
	return errors.New("no Google TPU on this host (no PCI device of vendor " + googlePCIVendor + ")")
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	if p.stop == nil {
		return nil
	}
	p.stop()
	p.stop = nil
	var errs []error
	p.mu.Lock()
	for ep, c := range p.conns {
		errs = append(errs, c.Close())
		delete(p.conns, ep)
	}
	p.mu.Unlock()
	errs = append(errs, p.pods.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("TPU probe close: %w", err)
	}
	return nil
}

// Describe implements probe.Probe.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }

// Collect implements probe.Probe: the series of the last poll, and the
// error counts.
func (p *Probe) Collect(ch chan<- prometheus.Metric) error {
	p.CollectOwn(ch)
	p.mu.Lock()
	counts := make([]uint64, len(reasons))
	for i, r := range reasons {
		counts[i] = p.errors[r]
	}
	p.mu.Unlock()
	for i, r := range reasons {
		ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, float64(counts[i]), r)
	}
	return nil
}

// count adds n failures of reason.
func (p *Probe) count(reason string, n int) {
	if n == 0 {
		return
	}
	p.mu.Lock()
	p.errors[reason] += uint64(n)
	p.mu.Unlock()
}
