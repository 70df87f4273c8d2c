#!/usr/bin/env bash
# GPU check: on a Linux machine with an NVIDIA GPU, its driver and PyTorch,
# runs a prebuilt orb8 agent (bin/orb8, or $ORB8) against real PyTorch
# workloads and checks what it reports. Downloads nothing; about 4-6 minutes,
# at most 9 (a watchdog ends it at 8.5).
#
#   sudo hack/gpu-check.sh            # as root: the agent loads BPF programs
#   OUT=/some/dir sudo -E hack/gpu-check.sh
#
# It runs, each process in its own cgroup:
#   work  three PyTorch steps: a training-like one (8 large matmuls, a 64 MiB
#         temporary, 1 MiB copies each way), a launch-bound one (50 tiny
#         kernels) and token-by-token decoding (a 6-layer transformer with
#         random weights, eager, batch 1), timed before the agent starts, with
#         the default agent, after it stopped, and with a --cuda-exact agent;
#   leak  keeps a new 32 MiB block every 0.5 s.
# The launches each step makes are counted first with torch.profiler, in a
# process of its own. It asserts: device metrics from NVML; the work's GPU
# memory attributed to its cgroup; its kernel launches (sampled, partly
# estimated) within 10% of those made, memcpy bytes and GEMM calls counted;
# the launch-bound work duty-cycled by default and counted exactly with
# --cuda-exact, where the launches by kernel name add up to them (the share
# named and the top kernels are reported); the leak's outstanding bytes matching
# torch.cuda.memory_reserved(); the leak flagged and the work not;
# outstanding bytes cleared when the leak exits; each step at most 2% slower
# with the default agent (launch-bound ones by their mean time: the median
# would hide the sampled windows). The exact mode's cost is reported.
# Writes summary.md (paste into docs/benchmarks.md), agent.log, metrics-*.txt
# and the workloads' JSON under $OUT; exits 1 if an assertion failed, 2 if
# the machine lacks what the check needs. Env: ORB8, PYTHON, OUT, PORT;
# MATMUL_STEPS, SMALL_STEPS, DECODE_TOKENS (per phase) for gpu_check.py;
# RUNTIME: cuda (default), or hip for an AMD GPU with PyTorch built for ROCm
# (hack/rocm-runtime-check.sh), where the runtime assertions are the same under
# runtime="hip" on libamdhip64, but for what the HIP runtime does not have:
# no GEMM hooks (rocBLAS, hipBLASLt), no duty-cycled launches (every HIP
# launch counts: only the matmul step's overhead is asserted), and no device
# assertions here (the NVML ones are NVIDIA's).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHECK=gpu-check
. "$ROOT/hack/accel-check-lib.sh"
LEAK_WINDOW=20   # --cuda-leak-window, seconds
LEAK_SECS=45     # how long the leak grows: over twice the window
RUNTIME=${RUNTIME:-cuda}
case $RUNTIME in
cuda) LIBRARIES="cudart cuda cublas" ;; # the orb8_accelerator_libraries_hooked libraries the work must map
hip) LIBRARIES=amdhip64 ;;
*) echo "gpu-check: RUNTIME is cuda or hip, not $RUNTIME"; exit 2 ;;
esac

# --- what this machine has -------------------------------------------------
begin_check
if [ "$RUNTIME" = hip ]; then
	{ command -v amd-smi >/dev/null && amd-smi list; } || { command -v rocm-smi >/dev/null && rocm-smi --showproductname; } || say "neither amd-smi nor rocm-smi found"
elif command -v nvidia-smi >/dev/null; then
	nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total,temperature.gpu,power.draw --format=csv | tee "$OUT/nvidia-smi.csv"
else
	say "nvidia-smi not found (the check goes on: NVML is what orb8 uses)"
fi

# Python with a CUDA-enabled (or ROCm) torch.
PY_NEEDS='import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)'
PY=$(find_python) || { echo "gpu-check: no python3 with a CUDA-enabled torch found (set PYTHON=/path/to/python3)"; exit 2; }
say "python: $PY"
"$PY" -c 'import torch, os; print("torch", torch.__version__, "cuda", torch.version.cuda, "hip", getattr(torch.version, "hip", None), torch.cuda.get_device_name(0)); import glob; sp = os.path.dirname(torch.__file__); print("cudart candidates:", glob.glob(os.path.join(sp, "..", "nvidia", "cu*", "lib", "libcudart.so*")) + glob.glob(os.path.join(sp, "lib", "libcudart*")))'

# cgroup2: /sys/fs/cgroup on pure-v2 hosts, /sys/fs/cgroup/unified on hybrid ones.
make_cgroups work leak
WORK_CG=/orb8-gpu-check-work
LEAK_CG=/orb8-gpu-check-leak

# --- launches per step, counted by the profiler in a process of its own ------
rm -f "$OUT"/*.json "$OUT"/go-* "$OUT"/metrics-*
say "counting the launches of each step with torch.profiler"
timeout 300 "$PY" "$HELPER" count "$OUT" >"$OUT/count.log" 2>&1 || { say "launch count failed (see count.log): the decode step's launches are unknown"; tail -5 "$OUT/count.log"; }
say "launches per step (decode: per sequence of $(js launches decode_tokens_per_sequence) tokens): $(js launches per_step), exact: $(js launches exact)"
DECODE_EXACT=$(js launches exact decode)

# --- the work, timed before the agent ---------------------------------------
start_work 180 'libcudart|libcuda\.so|libamdhip64' "$PY" "$HELPER" work "$OUT"

# --- the agent --------------------------------------------------------------
METRICS=http://127.0.0.1:$PORT/metrics
start_agent agent.log && pass "agent ready in $(($(date +%s) - START))s since start of check" || { fail "agent ready (see agent.log)"; tail -30 "$OUT/agent.log"; exit 1; }
sleep 2 # one NVML poll at 1s
scrape before
check "probe cuda up" "$(q "$OUT/metrics-before.txt" orb8_probe_up probe=cuda) == 1"
[ "$RUNTIME" = cuda ] && check "probe nvml up" "$(q "$OUT/metrics-before.txt" orb8_probe_up probe=nvml) == 1"
for lib in $LIBRARIES; do
	check "lib$lib hooked under runtime=$RUNTIME (running process, found by the first scan)" "'$(q "$OUT/metrics-before.txt" orb8_accelerator_libraries_hooked runtime="$RUNTIME" library="$lib")' not in ('NA', '0.0')"
done
grep -E 'hooked runtime library|some runtime functions|trap' "$OUT/agent.log" | head -10

# --- the work, with the agent -------------------------------------------------
# Counts over a phase come from the scrapes the work makes around its blocks
# (metrics-PHASE-0.txt ... -N.txt): a sampled process's estimate runs on in
# a gap after its calls stop, so a scrape seconds later would count calls
# never made.
phase_metrics() { # phase_metrics PHASE [BLOCK]: the scrape after a block (0: before the first; default: after the last)
	echo "$OUT/metrics-$1-${2:-$("$PY" -c "import json; print(len(json.load(open('$OUT/$1.json'))['blocks']))" 2>/dev/null)}.txt"
}
phase_count() { # phase_count PHASE METRIC [k=v...]: the metric's growth for the work over a phase
	calc "$(q "$(phase_metrics "$1")" "$2" cgroup=$WORK_CG runtime="$RUNTIME" "${@:3}") - $(q "$(phase_metrics "$1" 0)" "$2" cgroup=$WORK_CG runtime="$RUNTIME" "${@:3}" | sed 's/NA/0/')"
}
# launch_check PHASE TOLERANCE: launches counted over the phase against those made
launch_check() {
	local counted made
	counted=$(phase_count "$1" orb8_accelerator_kernel_launches_total)
	made=$(js "$1" launches)
	if [ "$(js "$1" launches_exact)" = True ]; then
		check "kernel launches counted in the $1 phase: $counted of $made made (within $2%)" "abs($counted - $made) <= $2 / 100 * $made"
	else
		check "kernel launches counted in the $1 phase: $counted, at least $made made (decode count unknown: a lower bound, less $2%)" "$counted >= (1 - $2 / 100) * $made"
	fi
}
go_phase traced "$METRICS"
wait_file "$OUT/traced.json" 180 || fail "traced timing"
say "with agent: $(cat "$OUT/traced.json")"
sleep 2
scrape traced
M0=$OUT/metrics-before.txt
M1=$OUT/metrics-traced.txt
launch_check traced 10
launches=$(phase_count traced orb8_accelerator_kernel_launches_total)
h2d=$(calc "$(q "$M1" orb8_accelerator_memcpy_bytes_total cgroup=$WORK_CG runtime="$RUNTIME" kind=h2d) - $(q "$M0" orb8_accelerator_memcpy_bytes_total cgroup=$WORK_CG runtime="$RUNTIME" kind=h2d | sed 's/NA/0/')")
d2h=$(calc "$(q "$M1" orb8_accelerator_memcpy_bytes_total cgroup=$WORK_CG runtime="$RUNTIME" kind=d2h) - $(q "$M0" orb8_accelerator_memcpy_bytes_total cgroup=$WORK_CG runtime="$RUNTIME" kind=d2h | sed 's/NA/0/')")
check "memcpy h2d counted: $h2d bytes, copied $(js traced h2d_bytes)" "$h2d >= $(js traced h2d_bytes)"
check "memcpy d2h counted: $d2h bytes, copied $(js traced d2h_bytes)" "$d2h >= $(js traced d2h_bytes)"
# GEMMs are sampled like launches: the matmul steps' are a floor (less the
# estimate's 10%); the decode's are what PyTorch issued (aten mm/bmm, by the
# profiler), reported.
gemms=$(phase_count traced orb8_accelerator_gemm_calls_total)
flops=$(phase_count traced orb8_accelerator_gemm_flops_total)
decode_gemms=$(calc "$(js launches gemm_ops decode) * $(js traced decode_steps) // $(js launches decode_tokens_per_sequence)")
if [ "$RUNTIME" = cuda ]; then
	check "GEMM calls counted: $gemms during the traced phase; the matmul steps made $(js traced matmuls), the decode about $decode_gemms" "$gemms >= 0.9 * $(js traced matmuls)"
else
	say "GEMM calls: not hooked for $RUNTIME (rocBLAS, hipBLASLt); counted $gemms"
fi
# A matmul PyTorch sends to cublasLtMatmul carries no FLOPs (opaque shapes): reported, not asserted.
say "GEMM FLOPs counted: $flops, of $(js traced matmul_flops) the matmuls made"
# The sampler's state at the end of each launch-bound block: the work must be
# duty-cycled there.
sampled=0
for i in $("$PY" -c "import json; print(*[i for i, b in enumerate(json.load(open('$OUT/traced.json'))['blocks'], 1) if b['kind'] != 'matmul'])"); do
	v=$(q "$(phase_metrics traced "$i")" orb8_accelerator_sampled_processes runtime=cuda)
	[ "$v" != NA ] && [ "$(calc "int($v >= 1)")" = 1 ] && sampled=1
done
ratio=$(q "$(phase_metrics traced)" orb8_accelerator_sampling_ratio runtime=cuda call=launch)
gemm_ratio=$(q "$(phase_metrics traced)" orb8_accelerator_sampling_ratio runtime=cuda call=gemm)
if [ "$RUNTIME" = cuda ]; then
	check "launch-bound work duty-cycled by default (orb8_accelerator_sampled_processes >= 1 after a launch-bound block)" "$sampled == 1"
	check "orb8_accelerator_sampling_ratio{call=launch} exported and below 1 (some launches estimated): $ratio" "'$ratio' != 'NA' and 0 < $ratio < 1"
else
	launch_check traced 1 # every call counted, none estimated
fi

GPU0='device=0'
if [ "$RUNTIME" = cuda ]; then # device assertions: NVML's
for m in orb8_accelerator_utilization_ratio orb8_accelerator_memory_used_bytes orb8_accelerator_memory_total_bytes orb8_accelerator_temperature_celsius orb8_accelerator_power_watts; do
	v=$(q "$M1" $m $GPU0)
	check "device metric $m{device=0} = $v" "'$v' != 'NA' and ($v > 0 or '$m' == 'orb8_accelerator_utilization_ratio')"
done
check "PCIe throughput exported: tx=$(q "$M1" orb8_accelerator_pcie_bytes_per_second $GPU0 direction=tx) rx=$(q "$M1" orb8_accelerator_pcie_bytes_per_second $GPU0 direction=rx)" "'$(q "$M1" orb8_accelerator_pcie_bytes_per_second $GPU0 direction=tx)' != 'NA'"
check "throttle reasons exported (sum=$(q "$M1" orb8_accelerator_throttled $GPU0))" "'$(q "$M1" orb8_accelerator_throttled $GPU0)' != 'NA'"
wl_mem=$(q "$M1" orb8_workload_accelerator_memory_used_bytes cgroup=$WORK_CG)
reserved=$(js traced memory_reserved)
check "work's GPU memory attributed to its cgroup: $wl_mem bytes (NVML, context included) >= reserved $reserved" "'$wl_mem' != 'NA' and $wl_mem >= $reserved"
say "work SM utilization (NVML process samples): $(q "$M1" orb8_workload_accelerator_utilization_ratio cgroup=$WORK_CG)"
else
	wl_mem=NA reserved=NA
	say "device metrics: not checked by this script for $RUNTIME"
fi
# --- the leak ---------------------------------------------------------------
start_leak $((LEAK_SECS + 40)) "$PY" "$HELPER" leak "$OUT" "$LEAK_SECS"
M2=$OUT/metrics-leaked.txt
outstanding=$(q "$M2" orb8_accelerator_memory_outstanding_bytes cgroup=$LEAK_CG runtime="$RUNTIME")
mallocd=$(q "$M2" orb8_accelerator_malloc_bytes_total cgroup=$LEAK_CG runtime="$RUNTIME")
leak_reserved=$(js leak memory_reserved)
say "leak: kept $(js leak bytes_kept) bytes; torch reserved $leak_reserved; orb8 outstanding $outstanding, malloc total $mallocd"
check "leak's outstanding bytes match torch.cuda.memory_reserved() within 5%: $outstanding vs $leak_reserved" "'$outstanding' != 'NA' and abs($outstanding - $leak_reserved) <= 0.05 * $leak_reserved"
check "leak's malloc bytes >= memory_reserved(): $mallocd vs $leak_reserved" "'$mallocd' != 'NA' and $mallocd >= $leak_reserved"
end_leak
"$PY" "$HELPER" fetch "http://127.0.0.1:$PORT/metrics" "$OUT/metrics-final.txt"
{
	grep -E '^orb8_(accelerator_|bpf_program_run|probe_up|cuda_|gpu_|workload_gpu|pod_gpu|bpf_map_full|events_lost)' "$OUT/metrics-final.txt" | grep -v 'cgroup="'
	grep 'cgroup="/orb8-gpu-check' "$OUT/metrics-final.txt"
} >"$OUT/metrics-gpu.txt"
say "agent BPF time, cuda probe: $(q "$OUT/metrics-final.txt" orb8_bpf_program_run_seconds_total probe=cuda)s over $(q "$OUT/metrics-final.txt" orb8_bpf_program_runs_total probe=cuda) runs"

# --- the work, after the agent ----------------------------------------------
stop_agent
go_phase base2
wait_file "$OUT/base2.json" 180 || fail "base2 timing"
say "agent stopped: $(cat "$OUT/base2.json")"

# --- the work, with an agent counting every call (--cuda-exact) --------------
exact_launches=NA
if start_agent agent-exact.log --cuda-exact; then
	for ((i = 0; i < 100; i++)); do # the first scan hooks the running work
		scrape exact-before >/dev/null 2>&1 && [ "$(q "$OUT/metrics-exact-before.txt" orb8_accelerator_libraries_hooked runtime="$RUNTIME" | sed 's/NA/0.0/')" != 0.0 ] && break
		sleep 0.2
	done
	go_phase exact "$METRICS"
	wait_file "$OUT/exact.json" 180 || fail "exact timing"
	say "with --cuda-exact: $(cat "$OUT/exact.json")"
	launch_check exact 1
	exact_launches=$(phase_count exact orb8_accelerator_kernel_launches_total)
	exact_ratio=$(q "$(phase_metrics exact)" orb8_accelerator_sampling_ratio runtime=cuda call=launch)
	exact_sampled=$(q "$(phase_metrics exact)" orb8_accelerator_sampled_processes runtime=cuda)
	check "--cuda-exact samples nothing: sampling ratio $exact_ratio, sampled processes $exact_sampled" "'$exact_ratio' in ('1.0', 'NA') and '$exact_sampled' in ('0.0', 'NA')"
	# Kernels by name: every counted launch is counted by name ([unknown]
	# when its pointer has no symbol); the share named is reported.
	by_name=$(phase_count exact orb8_accelerator_kernel_launches_by_name_total runtime=cuda)
	unnamed=$(phase_count exact orb8_accelerator_kernel_launches_by_name_total runtime=cuda 'kernel=[unknown]')
	check "launches by kernel name add up to the launches counted (exact phase): $by_name of $exact_launches" "abs($by_name - $exact_launches) <= 0.01 * $exact_launches"
	say "launches with a kernel name: $(calc "round(100 * (1 - $(echo "$unnamed" | sed 's/NA/0/') / $by_name), 1)")%; most launched: $(grep "^orb8_accelerator_kernel_launches_by_name_total{.*cgroup=\"$WORK_CG\"" "$(phase_metrics exact)" | awk '{print $NF, $0}' | sort -g -r -k1,1 | cut -d' ' -f2- | head -5 | sed 's/.*kernel="\([^"]*\)".* \(.*\)/\1 = \2/' | paste -sd';')"
	say "agent BPF time with --cuda-exact, cuda probe: $(q "$(phase_metrics exact)" orb8_bpf_program_run_seconds_total probe=cuda)s over $(q "$(phase_metrics exact)" orb8_bpf_program_runs_total probe=cuda) runs"
	stop_agent
else
	fail "agent with --cuda-exact ready (see agent-exact.log)"
	go_phase exact
	wait_file "$OUT/exact.json" 180
fi
touch "$OUT/go-exit"

# Without the agent: the mean of before and after. Compute-bound steps by
# their median; launch-bound ones by their mean, which keeps what the sampled
# windows cost (the median of steps, most of them run between windows, would
# not).
base() { calc "($(js base1 "$1") + $(js base2 "$1")) / 2"; }
pct() { calc "'%+.2f' % (($1 / $2 - 1) * 100)"; } # pct WITH WITHOUT
mm_pct=$(pct "$(js traced matmul_median_ms)" "$(base matmul_median_ms)")
sm_pct=$(pct "$(js traced small_mean_ms)" "$(base small_mean_ms)")
dec_pct=$(pct "$(js traced decode_mean_ms)" "$(base decode_mean_ms)")
sm_exact_pct=$(pct "$(js exact small_mean_ms)" "$(base small_mean_ms)")
dec_exact_pct=$(pct "$(js exact decode_mean_ms)" "$(base decode_mean_ms)")
check "matmul step with the agent $mm_pct% slower (median; target <= 2%)" "$mm_pct <= 2"
if [ "$RUNTIME" = cuda ]; then
	check "launch-bound step (50 tiny kernels) with the agent $sm_pct% slower (mean; target <= 2%)" "$sm_pct <= 2"
	check "decode token with the agent $dec_pct% slower (mean; target <= 2%)" "$dec_pct <= 2"
else
	say "$RUNTIME launches are not duty-cycled (reported, not asserted): launch-bound step $sm_pct% slower, decode token $dec_pct% slower"
fi
say "with --cuda-exact (reported, not asserted): launch-bound step $sm_exact_pct% slower, decode token $dec_exact_pct% slower"

# --- summary ----------------------------------------------------------------
r() { calc "round($1, $2)"; }
row() { # row LABEL KEY DIGITS PCT: a timing row, without agent (before / after), with
	echo "| $1 | $(r "$(js base1 "$2")" "$3") / $(r "$(js base2 "$2")" "$3") ms | $(r "$(js traced "$2")" "$3") ms | $4% | $5 |"
}
{
	echo "### GPU check, runtime $RUNTIME ($(date -u +%Y-%m-%d), hack/gpu-check.sh)"
	echo
	echo "Machine: $(js warm device), kernel $(uname -r); $(js warm torch) torch, CUDA $(js warm cuda), HIP $(js warm hip); orb8 $("$ORB8" version 2>/dev/null | head -1)."
	echo
	echo "| step | without agent (before / after) | with agent (default) | change | with \`--cuda-exact\` |"
	echo "|---|---|---|---|---|"
	row "8x matmul 4096² fp32 + 64 MiB temp + 1 MiB h2d/d2h (median of $(js traced matmul_steps))" matmul_median_ms 3 "$mm_pct" ""
	row "50 tiny kernels, launch-bound (mean of $(js traced small_steps))" small_mean_ms 4 "$sm_pct" "$(r "$(js exact small_mean_ms)" 4) ms, $sm_exact_pct%"
	row "(same, median)" small_median_ms 4 "$(pct "$(js traced small_median_ms)" "$(base small_median_ms)")" "$(r "$(js exact small_median_ms)" 4) ms"
	row "decode token, 6-layer d512 transformer, fp16, batch 1, eager (mean of $(js traced decode_steps))" decode_mean_ms 4 "$dec_pct" "$(r "$(js exact decode_mean_ms)" 4) ms, $dec_exact_pct%"
	row "(same, median)" decode_median_ms 4 "$(pct "$(js traced decode_median_ms)" "$(base decode_median_ms)")" "$(r "$(js exact decode_median_ms)" 4) ms"
	echo
	echo "Launches per step, counted by torch.profiler (GPU kernels that ran): matmul $(js launches per_step matmul), small $(js launches per_step small), decode $(calc "$(js launches per_step decode) / $(js launches decode_tokens_per_sequence)") per token ($(js launches per_step decode) per $(js launches decode_tokens_per_sequence)-token sequence; exact: $DECODE_EXACT)."
	echo
	echo "Kernel launches by block, traced phase (default agent: sampled, partly estimated), and the sampler at the block's end:"
	echo
	echo "| block | steps | time | launches made | counted | error | sampling ratio (node, launch) | sampled processes |"
	echo "|---|---|---|---|---|---|---|---|"
	"$PY" "$HELPER" blocks "$OUT" traced "$WORK_CG"
	echo
	echo "Whole traced phase: $launches launches counted of $(js traced launches) made; orb8_accelerator_sampling_ratio launch $ratio, gemm $gemm_ratio. With \`--cuda-exact\`: $exact_launches counted of $(js exact launches) made."
	echo "memcpy h2d $h2d B, d2h $d2h B. GEMM calls counted: $gemms (the matmul steps made $(js traced matmuls), the decode about $decode_gemms); FLOPs counted $flops of $(js traced matmul_flops)."
	echo "Leak (32 MiB every 0.5 s): flagged=$flagged with a ${LEAK_WINDOW}s window; outstanding $outstanding B vs torch.cuda.memory_reserved() $leak_reserved B."
	echo "Work's GPU memory by NVML attributed to its cgroup: $wl_mem B (torch reserved $reserved B)."
} >"$OUT/summary.md"
end_check
