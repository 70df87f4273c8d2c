#!/usr/bin/env bash
# TPU check: on a Google Cloud TPU VM with JAX (and so libtpu) installed,
# runs a prebuilt orb8 agent (bin/orb8, or $ORB8) against a real JAX
# workload and checks what the tpu probe reports. Downloads nothing; about
# one minute.
#
#   sudo hack/tpu-check.sh                 # as root: the agent joins namespaces
#   NETNS=1 sudo -E hack/tpu-check.sh      # the workload in a network namespace of its own
#
# The workload, in a cgroup of its own, puts a 512 MiB array on every TPU
# device, reports JAX's own per-device bytes_in_use, then keeps the chips
# busy with matmuls. It asserts: orb8_probe_up{probe="tpu"} 1; one endpoint
# polled; for every chip, orb8_workload_accelerator_memory_used_bytes of
# the workload's cgroup at least the array and within 10% of JAX's
# bytes_in_use (or above it: libtpu counts program memory too), at most
# orb8_workload_accelerator_memory_total_bytes; duty cycle
# (orb8_workload_accelerator_utilization_ratio) above 0 while the matmuls
# run; the series carry vendor="google"; no poll errors; the matmul rounds
# at most 2% slower (median) in two 10 s windows with the agent than in two
# without, alternating. Writes summary.md, agent.log, metrics.txt,
# rounds.txt and jax.json under $OUT; exits 1 if an assertion
# failed, 2 if the machine lacks what the check needs. Env: ORB8, PYTHON,
# OUT, PORT, NETNS.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ORB8=${ORB8:-$ROOT/bin/orb8}
PY=${PYTHON:-python3}
OUT=${OUT:-$(mktemp -d /tmp/orb8-tpu-check.XXXXXX)}
PORT=${PORT:-19818}
mkdir -p "$OUT"
exec > >(tee "$OUT/tpu-check.log") 2>&1
FAILED=0
RESULTS=()
say() { printf '%s\n' "$*"; }
pass() { RESULTS+=("PASS  $*"); say "PASS  $*"; }
fail() { RESULTS+=("FAIL  $*"); say "FAIL  $*"; FAILED=1; }

[ "$(id -u)" = 0 ] || { say "run as root"; exit 2; }
[ -x "$ORB8" ] || { say "no agent binary at $ORB8 (make build)"; exit 2; }
"$PY" -c 'import jax, sys; sys.exit(0 if jax.devices()[0].platform == "tpu" else 1)' 2>/dev/null ||
	{ say "$PY has no JAX that sees a TPU"; exit 2; }

CG=/sys/fs/cgroup/orb8-tpu-check-$$
PIDS=()
cleanup() {
	for p in "${PIDS[@]}" ${AGENT:+"$AGENT"}; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -d "$CG" ] && { echo 1 >"$CG/cgroup.kill" 2>/dev/null; sleep 0.5; rmdir "$CG" 2>/dev/null; }
}
trap cleanup EXIT
mkdir "$CG" || { say "cannot make cgroup $CG"; exit 2; }

cat >"$OUT/work.py" <<'PY'
import json, sys, time
import jax, jax.numpy as jnp
arrays = [jax.device_put(jnp.ones((512 << 20) // 4, dtype=jnp.float32), d) for d in jax.devices()]
for a in arrays:
    a.block_until_ready()
stats = {str(d.id): d.memory_stats() for d in jax.devices()}
json.dump({"devices": [d.id for d in jax.devices()], "kind": jax.devices()[0].device_kind,
           "bytes_in_use": {k: v.get("bytes_in_use", 0) for k, v in stats.items()},
           "bytes_limit": {k: v.get("bytes_limit", 0) for k, v in stats.items()}}, open(sys.argv[1], "w"))
print("ready", flush=True)
m = [jax.device_put(jnp.ones((4096, 4096), dtype=jnp.bfloat16), d) for d in jax.devices()]
rounds, flushed = open(sys.argv[2], "w"), time.time()
while True:
    start = time.perf_counter()
    for x in m:
        (x @ x).block_until_ready()
    rounds.write("%.6f %.9f\n" % (time.time(), time.perf_counter() - start))
    if time.time() - flushed > 0.5:
        rounds.flush()
        flushed = time.time()
PY
WORK=("$PY" "$OUT/work.py" "$OUT/jax.json" "$OUT/rounds.txt")
if [ "${NETNS:-0}" = 1 ]; then
	WORK=(unshare --net sh -c 'ip link set lo up && exec "$@"' sh "${WORK[@]}")
fi
(echo $BASHPID >"$CG/cgroup.procs" && exec "${WORK[@]}") >"$OUT/work.log" 2>&1 &
PIDS+=($!)
for ((i = 0; i < 600; i++)); do grep -q ready "$OUT/work.log" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$OUT/work.log" || { say "the JAX workload did not start:"; tail -20 "$OUT/work.log"; exit 2; }
pass "JAX workload on $("$PY" -c "import json; d=json.load(open('$OUT/jax.json')); print(len(d['devices']), d['kind'])") in ${CG#/sys/fs/cgroup}"

# window NAME: 10 s of matmul rounds, its start and end in windows.txt; an
# "on" window whose agent did not live through it is "dead".
window() {
	local from name=$1
	from=$(date +%s.%N)
	sleep 10
	if [ "$name" = on ] && ! kill -0 "$AGENT" 2>/dev/null; then name=dead; fi
	echo "$name $from $(date +%s.%N)" >>"$OUT/windows.txt"
}
AGENT=
start_agent() {
	"$ORB8" agent --metrics-addr "127.0.0.1:$PORT" --api-addr "unix://$OUT/api.sock" --tpu-interval 1s --tpu-timeout 1s >>"$OUT/agent.log" 2>&1 &
	AGENT=$!
}
stop_agent() {
	kill "$AGENT" 2>/dev/null
	wait "$AGENT" 2>/dev/null
	AGENT=
}

window off
start_agent
sleep 8 # agent start, then polls at 1s while the matmuls run
"$PY" - "http://127.0.0.1:$PORT/metrics" "$OUT/metrics.txt" <<'PY' || { fail "metrics scraped (see agent.log)"; tail -20 "$OUT/agent.log"; }
import sys, urllib.request
open(sys.argv[2], "w").write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())
PY

"$PY" - "$OUT/metrics.txt" "$OUT/jax.json" "${CG#/sys/fs/cgroup}" <<'PY' >"$OUT/checks.txt"
import json, re, sys
text, jaxd, cgroup = open(sys.argv[1]).read(), json.load(open(sys.argv[2])), sys.argv[3]
rows = []
for line in text.splitlines():
    m = re.match(r'^([a-z_0-9]+)(?:\{(.*)\})? (\S+)$', line)
    if m:
        rows.append((m[1], dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m[2] or "")), float(m[3])))
def get(name, **want):
    return [(l, v) for n, l, v in rows if n == name and all(l.get(k) == x for k, x in want.items())]
def check(desc, ok):
    print(("PASS  " if ok else "FAIL  ") + desc)
up = get("orb8_probe_up", probe="tpu")
check("probe tpu up", bool(up) and up[0][1] == 1)
ep = get("orb8_tpu_endpoints")
check("one TPU endpoint polled (%s)" % (ep[0][1] if ep else "none"), bool(ep) and ep[0][1] >= 1)
errs = {l["reason"]: v for l, v in get("orb8_tpu_poll_errors_total")}
check("no poll errors %s" % errs, bool(errs) and not any(errs.values()))
used = {l["device"]: (l, v) for l, v in get("orb8_workload_accelerator_memory_used_bytes", cgroup=cgroup)}
total = {l["device"]: v for l, v in get("orb8_workload_accelerator_memory_total_bytes", cgroup=cgroup)}
duty = {l["device"]: v for l, v in get("orb8_workload_accelerator_utilization_ratio", cgroup=cgroup)}
check("HBM used for every chip JAX sees (%d of %d)" % (len(used), len(jaxd["devices"])), len(used) >= 1)
for dev, (labels, v) in sorted(used.items()):
    jax_used = jaxd["bytes_in_use"].get(dev)
    check("chip %s vendor=google" % dev, labels.get("vendor") == "google")
    check("chip %s HBM used %.0f MiB >= the 512 MiB array" % (dev, v / 2**20), v >= 512 * 2**20)
    if jax_used:
        check("chip %s HBM used %.0f MiB within 10%% of JAX's bytes_in_use %.0f MiB, or above" % (dev, v / 2**20, jax_used / 2**20), v >= 0.9 * jax_used)
    check("chip %s HBM used <= total %.0f MiB" % (dev, total.get(dev, 0) / 2**20), 0 < v <= total.get(dev, 0))
    check("chip %s duty cycle %.3f > 0 while the matmuls run" % (dev, duty.get(dev, 0)), duty.get(dev, 0) > 0)
others = sorted({l["metric"] for l, _ in get("orb8_workload_accelerator_runtime_gauge", cgroup=cgroup)})
print("INFO  other libtpu gauges: %s" % (", ".join(others) or "none"))
PY
window on
stop_agent
window off
start_agent
sleep 2
window on
stop_agent
"$PY" - "$OUT/rounds.txt" "$OUT/windows.txt" <<'PY' >>"$OUT/checks.txt"
import statistics, sys
rounds = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 2]
times, dead = {"on": [], "off": []}, False
for line in open(sys.argv[2]):
    name, start, end = line.split()
    if name == "dead":
        dead = True
        continue
    times[name] += [d for t, d in rounds if float(start) <= t <= float(end)]
off, on = (statistics.median(times[k]) if times[k] else 0 for k in ("off", "on"))
if dead:
    print("FAIL  the agent lived through every window with it (see agent.log)")
elif not off or not on:
    print("FAIL  matmul rounds in every window (%d without the agent, %d with)" % (len(times["off"]), len(times["on"])))
else:
    print("PASS  " if on <= 1.02 * off else "FAIL  ", end="")
    print("matmul round %.3f ms with the agent, %.3f ms without (%+.2f%%, at most +2%%; %d and %d rounds)" %
          (on * 1e3, off * 1e3, (on / off - 1) * 100, len(times["on"]), len(times["off"])))
PY
while read -r line; do
	case $line in
	PASS*) pass "${line#PASS  }" ;;
	FAIL*) fail "${line#FAIL  }" ;;
	*) say "$line" ;;
	esac
done <"$OUT/checks.txt"

{
	echo "### hack/tpu-check.sh, $(date -u +%Y-%m-%d), $(uname -r)"
	echo
	for r in "${RESULTS[@]}"; do echo "- $r"; done
} >"$OUT/summary.md"
say "results in $OUT (summary.md)"
exit $FAILED
