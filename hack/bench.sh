#!/usr/bin/env bash
# The benchmark suite (`make bench`): installs its load generators, builds
# orb8 and runs hack/bench, which writes docs/bench/results.json and the
# suite section of docs/benchmarks.md. Extra arguments go to hack/bench
# (e.g. -runs 3 -only exec_storm -scale 0). Run as root on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "hack/bench.sh: run as root (the agent loads BPF programs): sudo make bench" >&2
	exit 1
fi
missing=()
for tool in iperf3 wrk bpftrace gcc; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
go build -o bin/orb8 ./cmd/orb8
# Clean, as a deployed binary's page cache is: the agent pages out what it
# touched only at start, and dirty pages cannot be paged out.
sync bin/orb8
exec go run ./hack/bench -orb8 bin/orb8 "$@"
