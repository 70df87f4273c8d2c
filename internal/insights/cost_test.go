package insights

import (
	"math"
	"testing"
	"time"
)

// TestCostAcceptance: six hours of CPU 0.4-0.6 cores (mean 0.5) and memory
// 180-220 MiB (mean 200) at $0.04 a core-hour and $0.005 a GiB-hour:
// 3 core-hours ($0.12) and ~1.17 GiB-hours ($0.0059), $0.126 in all.
func TestCostAcceptance(t *testing.T) {
	rows, err := Cost(t.Context(), source(t), CostOptions{
		Filter: Filter{Namespace: "accept"}, Window: window(t, 6*time.Hour), By: ByWorkload,
		Prices: Prices{CPUCoreHour: 0.04, MemoryGiBHour: 0.005},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("%d rows, want 1: %+v", len(rows), rows)
	}
	r := rows[0]
	t.Logf("%s: $%.4f (cpu %.3f core-h $%.4f, memory %.3f GiB-h $%.4f), $%.2f a month", r.Name(), r.Cost, r.CPUCoreHours, r.CPUCost, r.MemoryGiBHours, r.MemoryCost, r.CostPerMonth)
	if r.Cost < 0.11 || r.Cost > 0.14 {
		t.Errorf("cost $%.4f, want $0.11-0.14", r.Cost)
	}
	if math.Abs(r.CPUCoreHours-3) > 0.05 || r.OwnerName != "api" || r.Pods != 1 {
		t.Errorf("row %+v: want ~3 core-hours of Deployment/api, one pod", r)
	}
}

// TestCostExactByHand prices the Pricing history, whose use is constant,
// and compares with the cost worked out by hand for six hours at $0.04 a
// core-hour, $0.005 a GiB-hour, $2 a GPU-hour, and $3.36 an hour for an
// m5.large node (4 cores, 16 GiB, 1 GPU: $2.24 an hour at the resource
// prices, so its resources cost 1.5 times as much):
//
//	web (node-b):  cpu max(0.25 used, 0.5 requested) = 0.5 x 6 x 0.04 = 0.12
//	               memory max(1 GiB, 0.5 GiB) = 1 x 6 x 0.005         = 0.03   -> 0.15
//	train (node-a): cpu max(2, 1) = 2 x 6 x 0.04 x 1.5                  = 0.72
//	               memory max(4, 8) = 8 x 6 x 0.005 x 1.5              = 0.36
//	               gpu 1 x 6 x 2 x 1.5                                 = 18     -> 19.08
//	               gpu idle (25% busy) 0.75 x 6 x 2 x 1.5              = 13.5
//	node-a: 3.36 x 6 = 20.16, allocated 19.08, idle 1.08
//	node-b: (2 x 0.04 + 8 x 0.005) x 6 = 0.72, allocated 0.15, idle 0.57
func TestCostExactByHand(t *testing.T) {
	prices := Prices{CPUCoreHour: 0.04, MemoryGiBHour: 0.005, GPUHour: 2, NodeTypes: map[string]float64{"m5.large": 3.36}}
	w := window(t, 6*time.Hour)
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9*math.Max(1, want) {
			t.Errorf("%s = %.12f, want %v", what, got, want)
		}
	}
	rows, err := Cost(t.Context(), source(t), CostOptions{Filter: Filter{Namespace: "pricing"}, Window: w, By: ByWorkload, Prices: prices})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]CostRow{}
	for _, r := range rows {
		byName[r.OwnerName] = r
	}
	if len(rows) != 2 {
		t.Fatalf("rows %+v, want web and train", rows)
	}
	web, train := byName["web"], byName["train"]
	near("web cost", web.Cost, 0.15)
	near("web cpu core-hours", web.CPUCoreHours, 3)
	near("web memory GiB-hours", web.MemoryGiBHours, 6)
	near("train cpu cost", train.CPUCost, 0.72)
	near("train memory cost", train.MemoryCost, 0.36)
	near("train gpu cost", train.GPUCost, 18)
	near("train cost", train.Cost, 19.08)
	near("train cost per month", train.CostPerMonth, 19.08/6*730)
	if train.GPUIdleCost == nil || web.GPUIdleCost != nil {
		t.Fatalf("gpu idle cost: train %v, web %v; want train's only", train.GPUIdleCost, web.GPUIdleCost)
	}
	near("train gpu idle cost", *train.GPUIdleCost, 13.5)

	ns, err := Cost(t.Context(), source(t), CostOptions{Filter: Filter{Namespace: "pricing"}, Window: w, By: ByNamespace, Prices: prices})
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0].Namespace != "pricing" {
		t.Fatalf("namespace rows %+v", ns)
	}
	near("namespace pricing", ns[0].Cost, 19.23)

	nodes, err := Cost(t.Context(), source(t), CostOptions{Window: w, By: ByNode, Prices: prices})
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, r := range nodes {
		switch r.Node {
		case "node-a":
			found++
			near("node-a cost", r.Cost, 20.16)
			near("node-a allocated", *r.AllocatedCost, 19.08)
			near("node-a idle", *r.IdleCost, 1.08)
			if r.NodeType != "m5.large" {
				t.Errorf("node-a type %q", r.NodeType)
			}
		case "node-b":
			found++
			near("node-b cost", r.Cost, 0.72)
			near("node-b allocated", *r.AllocatedCost, 0.15)
			near("node-b idle", *r.IdleCost, 0.57)
		}
	}
	if found != 2 {
		t.Errorf("node rows %+v, want node-a and node-b", nodes)
	}
	if _, err := Cost(t.Context(), source(t), CostOptions{Filter: Filter{Namespace: "pricing"}, Window: w, By: ByNode, Prices: prices}); err == nil {
		t.Error("cost by node with a namespace filter: no error")
	}
	if _, err := Cost(t.Context(), source(t), CostOptions{Window: w, Prices: Prices{}}); err == nil {
		t.Error("cost without prices: no error")
	}
}
