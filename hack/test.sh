#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need, checks
# formatting, lint and generated code, then runs every test as root against
# the real kernel.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "hack/test.sh: run as root (probes load into the kernel): sudo make test" >&2
	exit 1
fi

step() { printf '\n=== %s\n' "$*"; }

step "packages the tests need"
# prometheus: the end-to-end scrape and promtool; tmux: the TUI run; iproute2:
# network namespaces; iptables: the conntrack DNAT test; gcc, g++: test
# programs (exec storms, CUDA stand-ins, the named-kernels app); python3: the ML examples parse;
# bash-completion: the completion script runs in a real bash; chromium: the
# HTML compliance report renders in a real browser; shellcheck: the hardware
# check scripts are linted.
need=()
for pkg in prometheus tmux iproute2 iptables gcc g++ etcd-server python3 bash-completion chromium shellcheck; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Classic tracepoints (and bpftrace) need tracefs; tp_btf probes do not.
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing || true

step "lint"
make --no-print-directory lint

step "generated BPF objects are current"
make --no-print-directory check-generate

step "rendered manifests are current"
hack/manifests.sh --check

step "tool modules' own tests"
# hack/dashboards and hack/docs (the site builds with no broken link, the
# generated references are current) are modules of their own (hack/tools,
# hack/mkimage have no tests; hack/helmtemplate's run with the manifests
# check above).
go -C hack/dashboards test -count=1 ./...
go -C hack/docs test -count=1 ./...

step "go build needs no clang"
# A clang that fails loudly first in PATH: building must never reach it.
noclang=$(mktemp -d)
printf '#!/bin/sh\necho "clang called during go build" >&2\nexit 1\n' > "$noclang/clang"
chmod +x "$noclang/clang"
PATH="$noclang:$PATH" go build -o /dev/null ./cmd/orb8
rm -rf "$noclang"

step "linux/arm64 builds (committed arm64 BPF objects; NVML needs cgo, so off here)"
GOARCH=arm64 CGO_ENABLED=0 go build -o /dev/null ./cmd/orb8
GOARCH=arm64 CGO_ENABLED=0 go vet ./...

step "Kubernetes binaries (built once from the module proxy, cached in ~/.cache/orb8)"
# internal/kube's tests run a real etcd and kube-apiserver; with the
# binaries at hand they must not skip.
export ORB8_K8S_BIN
ORB8_K8S_BIN=$(hack/lib/k8s-binaries.sh)
export ORB8_REQUIRE_K8S=1
# The insights tests backfill history into a real Prometheus (installed
# above): they must not skip either.
export ORB8_REQUIRE_PROMETHEUS=1
# The HTML report's browser test (installed above) must not skip; its
# screenshot is kept in $ORB8_ARTIFACTS (default /tmp/orb8-artifacts).
export ORB8_REQUIRE_CHROMIUM=1
# The check scripts' lint must not skip either.
export ORB8_REQUIRE_SHELLCHECK=1
# The trace tests send spans to a real OpenTelemetry Collector too.
export ORB8_OTELCOL_BIN
ORB8_OTELCOL_BIN=$(hack/lib/otelcol-binary.sh)
export ORB8_REQUIRE_OTELCOL=1
# The fleet test remote-writes into a real Thanos Receive and asks Query
# (about 25 minutes to build once on 2 CPUs, then cached).
export ORB8_THANOS_BIN
ORB8_THANOS_BIN=$(hack/lib/thanos-binary.sh)
export ORB8_REQUIRE_THANOS=1

step "tests"
# -p 1: probe tests count kernel events machine-wide per cgroup; running
# packages one at a time keeps timing-sensitive ones (benchmarks, load) quiet.
go test -p 1 -count=1 -timeout 20m ./... 2>&1 | tee /tmp/orb8-test.log

step "make release: amd64 and arm64 archives, chart, krew, SBOMs, checksums"
# Runs hack/release.sh into a temporary directory and opens every artefact
# (test/release, build tag release).
go test -tags release -count=1 -timeout 20m ./test/release/

step "end to end on the project's own Kubernetes cluster"
# Brings the cluster up, deploys the agent's chart, runs test/e2e's cluster
# tests, and always takes the cluster down again.
hack/e2e.sh
