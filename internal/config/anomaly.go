package config

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// Anomaly is the behaviour profiling of workloads (internal/anomaly).
type Anomaly struct {
	// AnomalyDetection learns a profile per workload identity and raises
	// what a frozen profile never showed.
	AnomalyDetection bool
	// AnomalyLearning is each profile's learning window, from when its
	// identity is first seen.
	AnomalyLearning time.Duration
	// AnomalyMinute is the rate model's minute; shorter only to replay
	// days in compressed time.
	AnomalyMinute time.Duration
	// StateDir keeps what the agent must find again after a restart: the
	// profiles.
	StateDir string
}

func defaultAnomaly() Anomaly {
	return Anomaly{AnomalyLearning: 24 * time.Hour, AnomalyMinute: time.Minute, StateDir: "/var/lib/orb8"}
}

func (a *Anomaly) bindFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&a.AnomalyDetection, "anomaly-detection", a.AnomalyDetection, "learn a behaviour profile per workload (programs, program lineage, peers, DNS domains, listening ports), then raise what it never showed as an anomaly event (orb8 trace anomaly), audit record and orb8_anomalies_total; profiles are kept in --state-dir (orb8 profiles)")
	fs.DurationVar(&a.AnomalyLearning, "anomaly-learning", a.AnomalyLearning, "how long a profile learns from when its workload identity is first seen; then it is frozen")
	fs.DurationVar(&a.AnomalyMinute, "anomaly-minute", a.AnomalyMinute, "the time the rate model counts each feature over (exec rate, connection failures, DNS, bytes out, peers); shorter only to evaluate the model in compressed time (make anomaly-eval)")
	fs.StringVar(&a.StateDir, "state-dir", a.StateDir, "directory the agent keeps state in across restarts (the profiles of --anomaly-detection), made if missing")
}

func (a *Anomaly) validate() error {
	if !a.AnomalyDetection {
		return nil
	}
	if a.AnomalyLearning < time.Second {
		return fmt.Errorf("--anomaly-learning %s is too short: use at least 1s", a.AnomalyLearning)
	}
	if a.AnomalyMinute < 10*time.Millisecond {
		return fmt.Errorf("--anomaly-minute %s is too short: use at least 10ms", a.AnomalyMinute)
	}
	if a.StateDir == "" {
		return fmt.Errorf("--anomaly-detection keeps its profiles in --state-dir: set it")
	}
	return nil
}
