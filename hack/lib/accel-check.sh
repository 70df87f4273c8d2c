# shellcheck shell=bash
# Shared by hack/rocm-check.sh and hack/neuron-check.sh (sourced, not run):
# results, the workload's cgroup, the agent, the scrape and the summary.
# The sourcing script sets NAME (rocm, neuron) and PORT first.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ORB8=${ORB8:-$ROOT/bin/orb8}
PY=${PYTHON:-python3}
OUT=${OUT:-$(mktemp -d "/tmp/orb8-$NAME-check.XXXXXX")}
export PYTHONPATH=$ROOT/hack${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$OUT"
exec > >(tee "$OUT/$NAME-check.log") 2>&1
START=$(date +%s)
FAILED=0
RESULTS=()
say() { printf '[%3ds] %s\n' $(($(date +%s) - START)) "$*"; }
pass() { RESULTS+=("PASS  $*"); say "PASS  $*"; }
fail() { RESULTS+=("FAIL  $*"); say "FAIL  $*"; FAILED=1; }

# need_root_and_agent exits 2 unless run as root with an agent binary.
need_root_and_agent() {
	[ "$(id -u)" = 0 ] || { say "run as root"; exit 2; }
	[ -x "$ORB8" ] || { say "no agent binary at $ORB8 (make build)"; exit 2; }
}

CG=/sys/fs/cgroup/orb8-$NAME-check-$$
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -d "$CG" ] && { echo 1 >"$CG/cgroup.kill" 2>/dev/null; sleep 0.5; rmdir "$CG" 2>/dev/null; }
}
trap cleanup EXIT

# start_agent ARGS...: the agent, its log in agent.log, metrics on PORT.
start_agent() {
	"$ORB8" agent --metrics-addr "127.0.0.1:$PORT" --api-addr "unix://$OUT/api.sock" "$@" >"$OUT/agent.log" 2>&1 &
	PIDS+=($!)
	local i
	for ((i = 0; i < 300; i++)); do
		"$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/metrics', timeout=1)" 2>/dev/null && return 0
		sleep 0.1
	done
	say "the agent did not serve metrics:"
	tail -20 "$OUT/agent.log"
	exit 2
}

# start_workload READY_FILE CMD...: CMD in the check's cgroup, its output in
# work.log; waits up to 10 minutes (a Neuron compile) for READY_FILE.
start_workload() {
	local ready=$1 i
	shift
	mkdir "$CG" || { say "cannot make cgroup $CG"; exit 2; }
	(echo $BASHPID >"$CG/cgroup.procs" && exec "$@") >"$OUT/work.log" 2>&1 &
	PIDS+=($!)
	for ((i = 0; i < 6000; i++)); do
		[ -e "$ready" ] && return 0
		kill -0 "${PIDS[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	say "the workload did not start:"
	tail -20 "$OUT/work.log"
	exit 2
}

# collect FILE: the PASS, FAIL and INFO lines a Python check printed.
collect() {
	local line
	while read -r line; do
		case $line in
		PASS*) pass "${line#PASS  }" ;;
		FAIL*) fail "${line#FAIL  }" ;;
		*) say "$line" ;;
		esac
	done <"$1"
}

# runtime_check SCRIPT: once this check's agent and workload are stopped,
# the GPU check's runtime assertions against this vendor's runtime (SCRIPT,
# hack/gpu-check.sh with RUNTIME set), its outputs under OUT/runtime; one
# PASS or FAIL here, its own lines in its summary.md.
runtime_check() {
	cleanup
	PIDS=()
	OUT=$OUT/runtime PORT=$((PORT + 1)) "$(dirname "$0")/$1"
	case $? in
	0) pass "$1: every runtime assertion (see runtime/summary.md)" ;;
	1) fail "$1: some runtime assertion failed (see runtime/summary.md)" ;;
	*) fail "$1 could not run (see runtime/)" ;;
	esac
}

# summary: summary.md under OUT (paste into docs/benchmarks.md), and the
# exit status.
summary() {
	{
		echo "### hack/$NAME-check.sh, $(date -u +%Y-%m-%d), $(uname -r)"
		echo
		for r in "${RESULTS[@]}"; do echo "- $r"; done
	} >"$OUT/summary.md"
	say "results in $OUT (summary.md)"
	exit $FAILED
}
