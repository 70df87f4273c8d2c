package tui

import (
	"sort"
	"strings"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"

	"github.com/orb8/orb8/internal/apiclient"
)

// sortKey orders the workloads view.
type sortKey int

const (
	byNetwork sortKey = iota
	byDNSErrors
	byRunqueue
	byMemory
	byFDs
	byGPU
	byRequests
	byRequestErrors
	byName
	sortKeys
)

var sortNames = [...]string{"network rate", "DNS errors", "run-queue wait", "memory vs limit", "open fds", "GPU memory", "request rate", "request errors", "name"}

// row is one workload as the view shows it, computed once per refresh.
type row struct {
	f       *pb.WorkloadFigures
	name    string
	netRate *float64 // bytes/s, tx+rx, between the last two refreshes
	rqWait  *float64 // mean run-queue wait per timeslice, s, between the last two readings that differ
	memRate *float64 // usage / limit
	// rps, errRatio and p99: the HTTP requests the workload served (else
	// sent) between the last two refreshes: per second, the share answered
	// 500 or more, and the 99th percentile of their latency, in s.
	rps, errRatio, p99 *float64
	search             string // lower-case text the filter matches
}

// sample is what a workload's counters were at the previous refresh.
type sample struct {
	at     time.Time
	netSum float64
	// The run-queue counters move every 5 s, more slowly than refreshes:
	// the mean wait holds until they move again.
	wait, slices float64
	rqWait       *float64
	http         httpSample
}

// workloadName is namespace/pod/container, or the cgroup path outside pods.
func workloadName(w *pb.Workload) string {
	if w.GetPod() == "" {
		return w.GetCgroup()
	}
	name := w.GetNamespace() + "/" + w.GetPod()
	if w.GetContainer() != "" {
		name += "/" + w.GetContainer()
	}
	return name
}

// buildRows turns an answer into rows, deriving rates from prev (which it
// updates). It is the only O(n) pass per refresh; the sort is the only
// O(n log n) one.
func buildRows(list []*pb.WorkloadFigures, at time.Time, prev map[string]sample) []row {
	rows := make([]row, 0, len(list))
	seen := make(map[string]bool, len(list))
	for _, f := range list {
		w := f.GetWorkload()
		key := w.GetNode() + "|" + w.GetCgroup()
		seen[key] = true
		r := row{f: f, name: workloadName(w), search: workloadSearch(w)}
		p, seenBefore := prev[key]
		next := sample{at: at}
		if f.NetworkTxBytesTotal != nil || f.NetworkRxBytesTotal != nil {
			next.netSum = f.GetNetworkTxBytesTotal() + f.GetNetworkRxBytesTotal()
			if seenBefore && at.After(p.at) && next.netSum >= p.netSum {
				rate := (next.netSum - p.netSum) / at.Sub(p.at).Seconds()
				r.netRate = &rate
			}
		}
		if f.TimeslicesTotal != nil {
			next.wait, next.slices = f.GetRunqueueWaitSecondsTotal(), f.GetTimeslicesTotal()
			switch {
			case seenBefore && next.slices > p.slices && next.wait >= p.wait:
				mean := (next.wait - p.wait) / (next.slices - p.slices)
				next.rqWait = &mean
			case seenBefore && next.slices == p.slices:
				next.rqWait = p.rqWait // not flushed since: the last mean holds
			}
			r.rqWait = next.rqWait
		}
		next.http = r.httpRates(at, &p, seenBefore)
		prev[key] = next
		if f.MemoryUsageBytes != nil && f.GetMemoryLimitBytes() > 0 {
			ratio := f.GetMemoryUsageBytes() / f.GetMemoryLimitBytes()
			r.memRate = &ratio
		}
		rows = append(rows, r)
	}
	for key := range prev {
		if !seen[key] {
			delete(prev, key)
		}
	}
	return rows
}

// sortRows orders rows by key, largest first; absent figures sort last,
// ties by name so the order is stable between refreshes.
func sortRows(rows []row, key sortKey) {
	value := func(r *row) *float64 {
		switch key {
		case byNetwork:
			return r.netRate
		case byDNSErrors:
			return r.f.DnsErrorsTotal
		case byRunqueue:
			return r.rqWait
		case byMemory:
			return r.memRate
		case byFDs:
			return r.f.OpenFds
		case byGPU:
			return r.f.AcceleratorMemoryUsedBytes
		case byRequests:
			return r.rps
		case byRequestErrors:
			return r.errRatio
		}
		return nil
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := value(&rows[i]), value(&rows[j])
		switch {
		case a != nil && b != nil && *a != *b:
			return *a > *b
		case a != nil && b == nil:
			return true
		case a == nil && b != nil:
			return false
		}
		return rows[i].name < rows[j].name
	})
}

// matches reports whether a workload passes the filter: every word of it
// must appear in namespace, pod, container, cgroup, node or a key=value label.
func matches(search string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(search, w) {
			return false
		}
	}
	return true
}

// workloadSearch is the filter text of a workload that is not a row (flows, DNS, events).
func workloadSearch(w *pb.Workload) string {
	s := strings.ToLower(strings.Join([]string{w.GetNamespace(), w.GetPod(), w.GetContainer(), w.GetCgroup(), w.GetNode()}, " "))
	for k, v := range w.GetLabels() {
		s += " " + strings.ToLower(k+"="+v)
	}
	return s
}

// samplingNotes says, per probe and node (with several agents), which calls
// are counted in windows; "" where every call is.
func samplingNotes(statuses []*pb.Status) string {
	var notes []string
	for _, st := range statuses {
		for _, p := range st.GetProbes() {
			note := apiclient.SamplingNote(p)
			if note == "" {
				continue
			}
			if len(statuses) > 1 {
				note = st.GetNode() + " " + note
			}
			notes = append(notes, p.GetName()+": "+note)
		}
	}
	return strings.Join(notes, "; ")
}
