#!/usr/bin/env bash
# Builds the test OpenTelemetry Collector (hack/otelcol: the collector's own
# modules, an OTLP receiver and the contrib file exporter, pinned in its
# go.mod) into the cache, once per go.sum. Usage: hack/lib/otelcol-binary.sh
# Prints the path of the binary on success (about a minute to build once).
set -euo pipefail
cd "$(dirname "$0")/../otelcol"

sum=$(sha256sum go.mod go.sum main.go | sha256sum | cut -c1-16)
BIN_DIR=${ORB8_CACHE:-$HOME/.cache/orb8}/otelcol/$sum
BIN=$BIN_DIR/otelcol-orb8
mkdir -p "$BIN_DIR"
# One build at a time: a second caller waits for the first one's binary.
exec 9>"$BIN_DIR/.lock"
flock 9
if [[ ! -x $BIN ]]; then
  echo "building the test OpenTelemetry Collector into $BIN_DIR" >&2
  # Build into a temp file and move, so an interrupted build leaves no half binary.
  tmp=$(mktemp -d "$BIN_DIR/.build.XXXX")
  trap 'rm -rf "$tmp"' EXIT
  CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$tmp/otelcol-orb8" .
  mv "$tmp/otelcol-orb8" "$BIN"
fi
echo "$BIN"
