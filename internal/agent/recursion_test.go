package agent

import (
	"context"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

// nestedPrintk is a probe whose program the kernel must skip as a
// recursion: "inner" runs on the bpf_trace_printk tracepoint and prints,
// which fires that tracepoint again while it runs. "outer", run on demand,
// prints once: each run of it makes inner run once and miss once.
type nestedPrintk struct{ programsOnly }

func (p *nestedPrintk) Name() string { return "nested_printk" }

// printk prints "x" (bpf_trace_printk) and returns 0.
func printk() asm.Instructions {
	return asm.Instructions{
		asm.StoreImm(asm.R10, -8, 'x', asm.Half), // "x\0"
		asm.Mov.Reg(asm.R1, asm.R10),
		asm.Add.Imm(asm.R1, -8),
		asm.Mov.Imm(asm.R2, 2),
		asm.FnTracePrintk.Call(),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	}
}

func (p *nestedPrintk) Start(context.Context, probe.Env) error {
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
		"inner": {Name: "inner", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "bpf_trace_printk",
			SectionName: "tp_btf/bpf_trace_printk", License: "GPL", Instructions: printk()},
		"outer": {Name: "outer", Type: ebpf.RawTracepoint, SectionName: "raw_tp", License: "GPL", Instructions: printk()},
	}}
	objs, err := probe.Load(spec, nil, probe.LoadOptions{
		Programs: probe.Programs{Required: []string{"inner", "outer"}},
		Manual:   []string{"outer"},
	})
	p.objs = objs
	return err
}

// fire runs outer n times.
func (p *nestedPrintk) fire(t *testing.T, n int) {
	outer := p.objs.Programs()["outer"]
	for range n {
		if _, err := outer.Run(&ebpf.RunOptions{}); err != nil {
			t.Fatalf("run outer: %v", err)
		}
	}
}

// TestRecursionMissesExported: runs the kernel skips because a program was
// already running on the CPU are counted per probe, exactly.
func TestRecursionMissesExported(t *testing.T) {
	nested := &nestedPrintk{}
	_, srv := startAgent(t, nested)
	const n = 7
	nested.fire(t, n)
	families := scrape(t, srv.URL)
	if v, ok := testutil.Sample(t, families, "orb8_bpf_program_recursion_misses_total", map[string]string{"probe": "nested_printk"}); !ok || v != n {
		t.Errorf("orb8_bpf_program_recursion_misses_total{probe=nested_printk} = %v (present %v), want %d", v, ok, n)
	}
	if _, ok := testutil.Sample(t, families, "orb8_bpf_program_recursion_misses_total", map[string]string{"probe": "process"}); !ok {
		t.Error("orb8_bpf_program_recursion_misses_total{probe=process} missing")
	}
}
