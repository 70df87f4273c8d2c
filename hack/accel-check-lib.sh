# Helpers of the accelerator check scripts (hack/gpu-check.sh,
# hack/neuron-runtime-check.sh), sourced: assertions and their record, reading the
# workloads' JSON and the agent's metrics, starting and stopping the agent.
# Sourced with ROOT (the repository) and CHECK (the script's name) set; it
# sets ORB8, OUT, PORT and HELPER (hack/gpu_check.py) unless the caller's
# environment did. Its functions use, when called: PY (python3), START,
# LEAK_WINDOW, LEAK_SECS, RUNTIME, WORK_CG and LEAK_CG. Sourcing sets a
# trap on EXIT that stops what the check started.
# shellcheck shell=bash
ORB8=${ORB8:-$ROOT/bin/orb8}
OUT=${OUT:-$(mktemp -d "/tmp/orb8-$CHECK.XXXXXX")}
PORT=${PORT:-19808}
HELPER=$ROOT/hack/gpu_check.py

# begin_check: what every check does first: its log (OUT/CHECK.log), a
# watchdog (8.5 minutes), root and the agent binary, which kernel.
begin_check() {
	mkdir -p "$OUT"
	exec > >(tee "$OUT/$CHECK.log") 2>&1
	START=$(date +%s)
	start_watchdog 510
	say "output in $OUT"
	[ "$(id -u)" = 0 ] || { echo "$CHECK: run as root (the agent loads BPF programs)"; exit 2; }
	[ -x "$ORB8" ] || { echo "$CHECK: no orb8 binary at $ORB8 (build it: make build, or set ORB8)"; exit 2; }
	"$ORB8" version 2>&1 | head -3
	uname -r
}

FAILED=0
RESULTS=()
say() { printf '[%3ds] %s\n' $(($(date +%s) - START)) "$*"; }
pass() { RESULTS+=("PASS  $*"); say "PASS  $*"; }
fail() { RESULTS+=("FAIL  $*"); say "FAIL  $*"; FAILED=1; }
check() { # check DESCRIPTION PYTHON-BOOLEAN-EXPRESSION
	if "$PY" -c "import sys; sys.exit(0 if ($2) else 1)" 2>/dev/null; then pass "$1"; else fail "$1"; fi
}
calc() { "$PY" -c "print($1)" 2>/dev/null || echo NA; }
js() { "$PY" -c "import json; print(json.load(open('$OUT/$1.json'))$(printf "['%s']" "${@:2}"))" 2>/dev/null || echo NA; }
q() { "$PY" "$HELPER" query "$@"; }
scrape() { "$PY" "$HELPER" fetch "http://127.0.0.1:$PORT/metrics" "$OUT/metrics-$1.txt"; }
wait_file() { # wait_file PATH SECONDS
	local i
	for ((i = 0; i < $2 * 10; i++)); do [ -e "$1" ] && return 0; sleep 0.1; done
	return 1
}

# The agent under test, on PORT; its log is OUT/LOG.
start_agent() { # start_agent LOG [FLAGS...]: starts the agent and waits until it serves /readyz
	local log=$1 i
	shift
	"$ORB8" agent --bpf-stats --metrics-addr "127.0.0.1:$PORT" --api-addr "127.0.0.1:$((PORT + 1))" \
		--nvml-interval 1s --cuda-leak-window "${LEAK_WINDOW}s" "$@" >"$OUT/$log" 2>&1 &
	AGENT_PID=$!
	PIDS+=("$AGENT_PID")
	for ((i = 0; i < 600; i++)); do
		"$PY" "$HELPER" fetch "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
stop_agent() {
	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID"
	AGENT_PID=
	sleep 1
}

# What the check started, ended on exit: processes (PIDS, the agent) and
# cgroups (CGROUPS, once empty); the go- files release the workloads.
PIDS=()
CGROUPS=()
AGENT_PID=
cleanup() {
	touch "$OUT/go-exit" "$OUT/go-leak-exit" 2>/dev/null
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 1
	for d in "${CGROUPS[@]:-}"; do [ -n "$d" ] && rmdir "$d" 2>/dev/null; done
}
trap cleanup EXIT

# start_watchdog SECONDS: ends the check after SECONDS. The watchdog waits on
# its sleep rather than running it in the foreground, so the TERM from
# cleanup reaches its trap at once and the trap ends the sleep too (killing
# the subshell alone would leave a sleep behind).
start_watchdog() {
	(
		s=
		trap '[ -n "$s" ] && kill "$s" 2>/dev/null; exit 0' TERM
		sleep "$1" &
		s=$!
		wait "$s" && echo "$CHECK: watchdog: $1 seconds passed, stopping" && kill -TERM $$
	) &
	PIDS+=("$!")
}

# make_cgroups NAME...: a cgroup /orb8-CHECK-NAME for each (cgroup2: at
# /sys/fs/cgroup on pure-v2 hosts, /sys/fs/cgroup/unified on hybrid ones);
# exits 2 if it cannot.
make_cgroups() {
	local name d
	CG_ROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
	[ -n "$CG_ROOT" ] || { echo "$CHECK: no cgroup2 mount"; exit 2; }
	for name; do
		d=$CG_ROOT/orb8-$CHECK-$name
		mkdir -p "$d" && CGROUPS+=("$d") || { echo "$CHECK: cannot make cgroup $d"; exit 2; }
	done
}
in_cgroup() { # in_cgroup NAME CMD...: runs CMD inside cgroup /orb8-CHECK-NAME, in the background
	local name=$1
	shift
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG_ROOT/orb8-$CHECK-$name" "$@" &
}

# find_python: a python3 that runs the code PY_NEEDS with success: $PYTHON,
# the PATH, then virtual environments.
try_python() { [ -n "$1" ] && [ -x "$1" ] && timeout 120 "$1" -c "$PY_NEEDS" >/dev/null 2>&1; }
find_python() {
	local c
	for c in "${PYTHON:-}" "$(command -v python3)" "$(command -v python)" /usr/bin/python3 /usr/local/bin/python3 \
		/opt/*/bin/python3 /opt/*/*/bin/python3 /root/*/bin/python3 /root/.*/bin/python3 /home/*/*/bin/python3 \
		/workspace/*/bin/python3 /venv/bin/python3 /usr/local/*/bin/python3; do
		try_python "$c" && { echo "$c"; return 0; }
	done
	# Last resort: any python3 in a bin directory of the root filesystem.
	while read -r c; do
		try_python "$c" && { echo "$c"; return 0; }
	done < <(find / -xdev -maxdepth 6 -path /proc -prune -o -name python3 -path '*/bin/*' -print 2>/dev/null | head -40)
	return 1
}

# start_leak WAIT CMD...: runs CMD, a workload that leaks device memory for
# LEAK_SECS and then writes OUT/leak.json, in cgroup leak; asserts it is
# flagged within WAIT seconds and the work is not; waits for it to finish and
# scrapes metrics-leaked.txt.
start_leak() {
	local wait=$1 i
	shift
	in_cgroup leak "$@" >"$OUT/leak.log" 2>&1
	LEAK_PID=$!
	PIDS+=("$LEAK_PID")
	flagged=0
	for ((i = 0; i < wait; i++)); do
		sleep 1
		scrape leak >/dev/null 2>&1 || continue
		if [ "$(q "$OUT/metrics-leak.txt" orb8_accelerator_memory_leak_suspected cgroup=$LEAK_CG runtime="$RUNTIME")" = 1.0 ]; then
			flagged=1
			say "leak flagged after ${i}s (window ${LEAK_WINDOW}s)"
			break
		fi
	done
	[ $flagged = 1 ] && pass "leak flagged in orb8_accelerator_memory_leak_suspected{runtime=$RUNTIME}" ||
		fail "leak flagged in orb8_accelerator_memory_leak_suspected{runtime=$RUNTIME}"
	check "work not flagged as a leak" "'$(q "$OUT/metrics-leak.txt" orb8_accelerator_memory_leak_suspected cgroup=$WORK_CG runtime="$RUNTIME")' in ('0.0', 'NA')"
	wait_file "$OUT/leak.json" $((LEAK_SECS + 120)) || fail "leak finished (see leak.log)"
	sleep 1
	scrape leaked
}

# end_leak: lets the leak exit, and asserts its outstanding bytes cleared.
end_leak() {
	local left
	touch "$OUT/go-leak-exit"
	wait "$LEAK_PID"
	sleep 2
	scrape after-leak-exit
	left=$(q "$OUT/metrics-after-leak-exit.txt" orb8_accelerator_memory_outstanding_bytes cgroup=$LEAK_CG runtime="$RUNTIME")
	check "outstanding bytes cleared when the leak exited: $left" "$(echo "$left" | sed 's/NA/-1/') == 0"
}

go_phase() { # go_phase PHASE [METRICS-URL]: starts a phase of the work; with a URL, it scrapes it around each block
	printf '%s' "${2:-}" >"$OUT/go-$1.tmp" && mv "$OUT/go-$1.tmp" "$OUT/go-$1"
}

# start_work WARMUP LIBRARIES CMD...: runs CMD, the work, in cgroup work;
# waits (at most WARMUP seconds) until it is warm, lists its mapped files
# that match the regexp LIBRARIES, and times its first phase (base1),
# before the agent starts.
start_work() {
	local warmup=$1 libraries=$2
	shift 2
	in_cgroup work "$@" >"$OUT/work.log" 2>&1
	WORK_PID=$!
	PIDS+=("$WORK_PID")
	wait_file "$OUT/warm.json" "$warmup" || { fail "work warmed up (see work.log)"; tail -20 "$OUT/work.log"; exit 1; }
	say "work warmed up: $(cat "$OUT/warm.json")"
	grep -E "$libraries" "/proc/$WORK_PID/maps" | awk '{print $6}' | sort -u | tee "$OUT/work-libraries.txt"
	go_phase base1
	wait_file "$OUT/base1.json" 180 || fail "base1 timing"
	say "without agent: $(cat "$OUT/base1.json")"
}

# end_check: adds every assertion's result to OUT/summary.md, shows it and
# exits 1 if an assertion failed.
end_check() {
	{
		echo
		for r in "${RESULTS[@]}"; do echo "- $r"; done
	} >>"$OUT/summary.md"
	echo
	echo "================ summary ($OUT/summary.md) ================"
	cat "$OUT/summary.md"
	say "done: $([ $FAILED = 0 ] && echo 'all checks passed' || echo 'SOME CHECKS FAILED')"
	exit $FAILED
}
