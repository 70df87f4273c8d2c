#!/usr/bin/env bash
# Neuron check: on an AWS Trainium or Inferentia machine with the Neuron
# driver and torch-neuronx, runs a prebuilt orb8 agent (bin/orb8, or $ORB8)
# against real workloads and checks what it reports of the Neuron runtime
# (libnrt, runtime="nrt"). Downloads nothing; about 3-5 minutes, at most 9.
#
#   sudo hack/neuron-runtime-check.sh
#
# It runs, each process in its own cgroup:
#   work  a compiled two-layer MLP step (one graph: one execution per step),
#         timed before the agent starts, with the agent, and after it stopped;
#   leak  moves a new 32 MiB tensor to the device every 0.5 s and keeps it.
# It asserts: libnrt hooked in the running work (found by the first scan);
# the work's executions counted as kernel launches within 10% of the steps it
# ran; its device tensors counted (allocated, outstanding); the leak's
# outstanding bytes at least 90% of what it kept, the leak flagged and the
# work not; outstanding bytes cleared when the leak exits; the step at most
# 2% slower with the agent. Device metrics are not checked here. Writes
# summary.md, agent.log and metrics-*.txt under $OUT; exits 1 if an assertion
# failed, 2 if the machine lacks what the check needs. Env: ORB8, PYTHON, OUT,
# PORT, NEURON_STEPS.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHECK=neuron-runtime-check
. "$ROOT/hack/accel-check-lib.sh"
WORKLOAD=$ROOT/hack/neuron_check.py
LEAK_WINDOW=20 # --cuda-leak-window, seconds
LEAK_SECS=45   # how long the leak grows: over twice the window
RUNTIME=nrt

# --- what this machine has -------------------------------------------------
begin_check
command -v neuron-ls >/dev/null && neuron-ls | tee "$OUT/neuron-ls.txt"
PY_NEEDS='import torch, torch_xla.core.xla_model as xm, sys; xm.xla_device(); sys.exit(0)'
PY=$(find_python) || { echo "neuron-runtime-check: no python3 with torch-neuronx (torch_xla) found (set PYTHON=/path/to/python3)"; exit 2; }
say "python: $PY"
make_cgroups work leak
WORK_CG=/orb8-neuron-check-work
LEAK_CG=/orb8-neuron-check-leak
rm -f "$OUT"/*.json "$OUT"/go-* "$OUT"/metrics-*
nrt() { q "$1" "$2" runtime=nrt "${@:3}"; } # nrt FILE METRIC [k=v...]: the metric's Neuron series, summed

# --- the work, timed before the agent ---------------------------------------
start_work 300 libnrt "$PY" "$WORKLOAD" work "$OUT" # compiles its graph first

# --- the agent --------------------------------------------------------------
start_agent agent.log && pass "agent ready in $(($(date +%s) - START))s since start of check" || { fail "agent ready (see agent.log)"; tail -30 "$OUT/agent.log"; exit 1; }
scrape before
M0=$OUT/metrics-before.txt
check "probe cuda (the runtime probe) up" "$(q "$M0" orb8_probe_up probe=cuda) == 1"
check "libnrt hooked under runtime=nrt (running process, found by the first scan)" "'$(nrt "$M0" orb8_accelerator_libraries_hooked library=nrt)' not in ('NA', '0.0')"
grep -E 'hooked runtime library|some runtime functions' "$OUT/agent.log" | head -5
go_phase traced
wait_file "$OUT/traced.json" 180 || fail "traced timing"
say "with agent: $(cat "$OUT/traced.json")"
scrape traced
M1=$OUT/metrics-traced.txt
launches=$(calc "$(nrt "$M1" orb8_accelerator_kernel_launches_total cgroup=$WORK_CG) - $(nrt "$M0" orb8_accelerator_kernel_launches_total cgroup=$WORK_CG | sed 's/NA/0/')")
steps=$(js traced steps)
check "executions counted as launches in the traced phase: $launches for $steps steps (within 10%)" "'$launches' != 'NA' and abs($launches - $steps) <= 0.1 * $steps"
work_malloc=$(nrt "$M1" orb8_accelerator_malloc_bytes_total cgroup=$WORK_CG)
work_out=$(nrt "$M1" orb8_accelerator_memory_outstanding_bytes cgroup=$WORK_CG)
say "work's device tensors: $work_malloc bytes allocated since the agent started, $work_out outstanding"

# --- the leak ---------------------------------------------------------------
start_leak $((LEAK_SECS + 60)) "$PY" "$WORKLOAD" leak "$OUT" "$LEAK_SECS"
outstanding=$(nrt "$OUT/metrics-leaked.txt" orb8_accelerator_memory_outstanding_bytes cgroup=$LEAK_CG)
kept=$(js leak bytes_kept)
check "leak's outstanding device tensor bytes >= 90% of the $kept bytes it kept: $outstanding" "'$outstanding' != 'NA' and $outstanding >= 0.9 * $kept"
end_leak
grep -E '^orb8_(accelerator_|probe_up|bpf_map_full)' "$OUT/metrics-after-leak-exit.txt" | grep -E 'runtime="nrt"|probe_up|map_full' >"$OUT/metrics-nrt.txt"

# --- the work, after the agent ----------------------------------------------
stop_agent
go_phase base2
wait_file "$OUT/base2.json" 180 || fail "base2 timing"
say "agent stopped: $(cat "$OUT/base2.json")"
touch "$OUT/go-exit"
base=$(calc "($(js base1 median_ms) + $(js base2 median_ms)) / 2")
pct=$(calc "'%+.2f' % (($(js traced median_ms) / $base - 1) * 100)")
check "step with the agent $pct% slower (median; target <= 2%)" "$pct <= 2"

{
	echo "### Neuron check ($(date -u +%Y-%m-%d), hack/neuron-runtime-check.sh)"
	echo
	echo "Kernel $(uname -r); torch $(js warm torch) on $(js warm device); orb8 $("$ORB8" version 2>/dev/null | head -1)."
	echo
	echo "Step (2-layer MLP, batch 64), median: $(js base1 median_ms) / $(js base2 median_ms) ms without the agent (before / after), $(js traced median_ms) ms with it ($pct%)."
	echo "Executions counted as launches: $launches for $steps steps. Leak (32 MiB every 0.5 s): flagged=$flagged; outstanding $outstanding B of $kept B kept."
} >"$OUT/summary.md"
end_check
