package tui

import (
	"math"
	"strings"
	"testing"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// httpFigures are requests and errors with latencies in buckets of 1, 2, 4
// ms and +Inf, cumulative.
func httpFigures(requests, errors float64, cumulative ...uint64) *pb.HTTPFigures {
	h := &pb.HTTPFigures{RequestsTotal: requests, ErrorsTotal: errors}
	for i, bound := range []float64{0.001, 0.002, 0.004, math.Inf(1)} {
		h.Duration = append(h.Duration, &pb.HistogramBucket{UpperBound: bound, CumulativeCount: cumulative[i]})
	}
	return h
}

// RPS, ERR% and P99 come from the requests between two refreshes: the
// server side of a workload that serves, the client side of one that only
// sends.
func TestRequestColumns(t *testing.T) {
	web, job, idle := workload("shop", "web", "/a"), workload("shop", "job", "/b"), workload("shop", "idle", "/c")
	web.HttpServer = httpFigures(100, 10, 50, 90, 100, 100)
	web.HttpClient = httpFigures(1000, 1000, 1000, 1000, 1000, 1000) // what web sends is not shown
	job.HttpClient = httpFigures(5, 0, 5, 5, 5, 5)
	fc := &fakeClient{workloads: []*pb.WorkloadFigures{web, job, idle}}
	m := newModel(t, fc)
	press(m, "s", "s", "s", "s", "s", "s") // by request rate
	t0 := time.Now()
	load(m, t0)
	// Two seconds on: web served 200 more, 20 of them answered 5xx, 180 of
	// them within 2 ms and 20 within 4 ms; job sent 4, within 1 ms.
	web.HttpServer = httpFigures(300, 30, 150, 270, 300, 300)
	job.HttpClient = httpFigures(9, 0, 9, 9, 9, 9)
	load(m, t0.Add(2*time.Second))
	if got := names(m); strings.Join(got, ",") != "shop/web,shop/job,shop/idle" {
		t.Errorf("by request rate: %v", got)
	}
	w, j, i := m.rows[0], m.rows[1], m.rows[2]
	// Rank 198 of 200 falls 18/20 into (2 ms, 4 ms].
	if *w.rps != 100 || *w.errRatio != 0.1 || math.Abs(*w.p99-0.0038) > 1e-12 {
		t.Errorf("web: %v rps, %v errors, p99 %v; want 100, 0.1, 0.0038", *w.rps, *w.errRatio, *w.p99)
	}
	if *j.rps != 2 || *j.errRatio != 0 || *j.p99 != 0.00099 {
		t.Errorf("job: %v rps, %v errors, p99 %v; want 2, 0, 0.99 ms", *j.rps, *j.errRatio, *j.p99)
	}
	if i.rps != nil || i.errRatio != nil || i.p99 != nil {
		t.Errorf("idle has request figures")
	}
	lines := strings.Split(m.View(), "\n")
	for n, want := range []string{"RPS ERR% P99", "100 10% 3.8ms", "2 0% 990µs", "- - -"} {
		if got := strings.Fields(lines[n+1]); strings.Join(got[len(got)-3:], " ") != want {
			t.Errorf("line %d ends %q, want %q:\n%s", n+1, got[len(got)-3:], want, m.View())
		}
	}
	// A refresh with no request in between: a rate of 0, no ratio or p99.
	load(m, t0.Add(3*time.Second))
	if w := m.rows[0]; *w.rps != 0 || w.errRatio != nil || w.p99 != nil {
		t.Errorf("no requests: %v rps, %v, %v", *w.rps, w.errRatio, w.p99)
	}
	// The agent restarted and its new total already passed the old one,
	// but its errors and buckets went down: no figures across the reset.
	web.HttpServer = httpFigures(310, 3, 300, 300, 310, 310)
	load(m, t0.Add(4*time.Second))
	for _, w := range m.rows {
		if w.name == "shop/web" && (w.rps != nil || w.errRatio != nil || w.p99 != nil) {
			t.Errorf("across a restart: %v rps, %v, %v; want none", w.rps, w.errRatio, w.p99)
		}
	}
	// Without any HTTP figures the columns are not there.
	m = newModel(t, &fakeClient{workloads: []*pb.WorkloadFigures{idle}})
	load(m, t0)
	if strings.Contains(m.View(), "RPS") {
		t.Errorf("request columns without HTTP figures:\n%s", m.View())
	}
}

// The requests view lists the failing then the slowest requests, escaped,
// of every workload (7) or of the selected one (r), which Esc leaves.
func TestRequestsView(t *testing.T) {
	at := timestamppb.New(time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC))
	web, db := &pb.Workload{Namespace: "shop", Pod: "web", Cgroup: "/a"}, &pb.Workload{Namespace: "shop", Pod: "db", Cgroup: "/b"}
	fc := &fakeClient{
		workloads: []*pb.WorkloadFigures{{Workload: web}, {Workload: db}},
		requests: []*pb.Request{
			{Workload: web, Time: at, Method: "GET", Path: "/slow\x1b[2J", StatusCode: 200, LatencySeconds: 0.3, PeerAddr: "10.0.0.9", PeerPort: 41000},
			{Workload: web, Time: at, Method: "POST", Path: "/pay", StatusCode: 503, LatencySeconds: 0.002, Peer: &pb.Peer{Kind: "pod", Namespace: "shop", Name: "front"}},
			{Workload: db, Time: at, Method: "GET", Path: "/q", StatusCode: 200, LatencySeconds: 0.1},
		},
	}
	m := newModel(t, fc)
	m.Update(press(m, "7")())
	if m.view != requestsView || len(m.requests) != 3 {
		t.Fatalf("view %v with %d requests, want the requests view with 3", m.view, len(m.requests))
	}
	view := m.View()
	lines := strings.Split(view, "\n")
	if !strings.Contains(lines[2], "fail") || !strings.Contains(lines[2], "POST /pay") || !strings.Contains(lines[2], "503") || !strings.Contains(lines[2], "pod shop/front") {
		t.Errorf("first line %q: want the failing POST /pay", lines[2])
	}
	if strings.Contains(view, "\x1b[2J") || !strings.Contains(lines[3], `GET /slow\x1b[2J`) || !strings.Contains(lines[3], "300ms") || !strings.Contains(lines[3], "10.0.0.9:41000") {
		t.Errorf("second line %q: want the slow GET escaped", lines[3])
	}

	press(m, "1")
	load(m, time.Now())
	press(m, "j") // shop/web, after shop/db by name
	m.Update(press(m, "r")())
	if m.view != requestsView || len(m.requests) != 2 || !strings.Contains(m.View(), "of shop/web, Esc back") {
		t.Fatalf("r on shop/web: view %v, %d requests:\n%s", m.view, len(m.requests), m.View())
	}
	press(m, "esc")
	if m.view != workloadsView || m.reqScope != nil {
		t.Errorf("Esc: view %v, scope %v; want the workloads, unscoped", m.view, m.reqScope)
	}
}
