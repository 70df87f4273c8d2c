// Package audit writes the audit trail of security policies and anomalies:
// one JSON line per policy match, enforced or monitored, and per anomaly
// raised, to a size-rotated file or to standard output.
package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/orb8/orb8/internal/events"
)

// Record is one line of the audit log.
type Record struct {
	Time      time.Time `json:"time"`
	Node      string    `json:"node"`
	Policy    string    `json:"policy"`
	Rule      int       `json:"rule"`
	Action    string    `json:"action"`
	Mode      string    `json:"mode"`
	Operation string    `json:"operation"`
	Workload  Workload  `json:"workload"`
	Process   Process   `json:"process"`
	Target    *Target   `json:"target,omitempty"`
	// Anomaly is set on the record of an anomaly, whose policy fields
	// are empty.
	Anomaly *Anomaly `json:"anomaly,omitempty"`
}

// Anomaly is what a workload showed that its frozen behaviour profile
// never had (events.Anomaly).
type Anomaly struct {
	Kind    string `json:"kind"`
	Item    string `json:"item"`
	Profile string `json:"profile"`
	// Value, Baseline and Threshold are a rate anomaly's.
	Value     float64 `json:"value,omitempty"`
	Baseline  float64 `json:"baseline,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
}

// anomalyOperations are the operations anomalies of each kind come from.
var anomalyOperations = map[string]string{
	"new_binary": "exec", "new_lineage": "exec", "new_peer": "connect", "new_dns_domain": "dns", "new_listen_port": "listen",
	// rate anomalies, by feature
	"exec_rate": "exec", "connection_failures": "connect", "distinct_peers": "connect", "bytes_out": "connect",
	"dns_nxdomain_ratio": "dns", "dns_name_entropy": "dns", "dns_name_length": "dns",
}

// Workload is where the match happened.
type Workload struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Container string `json:"container"`
	Cgroup    string `json:"cgroup"`
}

// Process is who acted: for an exec, the program it was becoming.
type Process struct {
	PID           uint32   `json:"pid"`
	PPID          uint32   `json:"ppid"`
	UID           uint32   `json:"uid"`
	Comm          string   `json:"comm"`
	Filename      string   `json:"filename,omitempty"`
	Path          string   `json:"path,omitempty"`
	Args          []string `json:"args,omitempty"`
	ArgsTruncated bool     `json:"argsTruncated,omitempty"`
}

// Target is where a connect went, or the name a lookup asked for.
type Target struct {
	Address  string `json:"address,omitempty"`
	Port     uint16 `json:"port,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	Name     string `json:"name,omitempty"`
}

// FromEvent is the record of a policy or anomaly event of node.
func FromEvent(e *events.Event, node string) Record {
	r := Record{
		Time: e.Time.UTC(), Node: node,
		Workload: Workload{Namespace: e.Workload.Namespace, Pod: e.Workload.Pod, Container: e.Workload.Container, Cgroup: e.Workload.Path},
		Process:  Process{PID: e.Process.PID, PPID: e.Process.PPID, UID: e.Process.UID, Comm: e.Process.Comm},
	}
	if a := e.Anomaly; a != nil {
		r.Operation = anomalyOperations[a.Kind]
		if a.Kind == "rate" {
			r.Operation = anomalyOperations[a.Item]
		}
		r.Anomaly = &Anomaly{Kind: a.Kind, Item: a.Item, Profile: a.Profile, Value: a.Value, Baseline: a.Baseline, Threshold: a.Threshold}
		return r
	}
	m := e.Policy
	r.Policy, r.Rule, r.Action, r.Mode, r.Operation = m.Policy, m.Rule, m.Action, m.Mode, m.Operation
	r.Process.Filename, r.Process.Path, r.Process.Args, r.Process.ArgsTruncated = m.Filename, m.Path, m.Args, m.ArgsTruncated
	if m.Address != "" || m.Name != "" {
		r.Target = &Target{Address: m.Address, Port: m.Port, Protocol: m.Protocol, Name: m.Name}
	}
	return r
}

// Log is an audit log: a file rotated past a size, or a stream.
type Log struct {
	mu       sync.Mutex
	path     string // "": w is a stream, never rotated
	maxBytes int64
	w        io.Writer
	f        *os.File
	size     int64
}

// Open opens the audit log at path for appending ("-": standard output),
// rotated to path.1 once it would grow past maxBytes.
func Open(path string, maxBytes int64) (*Log, error) {
	if path == "-" {
		return &Log{w: os.Stdout}, nil
	}
	l := &Log{path: path, maxBytes: maxBytes}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Log) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit log: %w", err)
	}
	l.f, l.w, l.size = f, f, st.Size()
	return nil
}

// Write appends r as one line.
func (l *Log) Write(r Record) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.path != "" && l.size > 0 && l.size+int64(len(line)) > l.maxBytes {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	n, err := l.w.Write(line)
	l.size += int64(n)
	return err
}

// rotate moves the file to path.1 and starts a new one.
func (l *Log) rotate() error {
	l.f.Close()
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		return fmt.Errorf("audit log: rotate: %w", err)
	}
	return l.open()
}

// Close closes the file.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}
