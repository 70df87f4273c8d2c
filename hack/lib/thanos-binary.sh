#!/usr/bin/env bash
# Builds the pinned Thanos release from its Go module into the cache, once per
# version: the module source is downloaded at THANOS_VERSION and built inside
# itself, so that its own go.mod (replace directives included) decides the
# dependencies. Usage: hack/lib/thanos-binary.sh [bin-dir]
# Prints the path of the thanos binary on success.
#
# v0.42.5 asks for Go >= 1.26.10 (its go.mod differs from v0.42.4's only
# there); the go command fetches that toolchain from the module proxy once.
# The tags are those of Thanos' own release build (.promu.yml): without
# slicelabels, extgrpc unmarshals labels into pooled gRPC buffers that are
# reused while still referenced, and Receive panics on Query's first Store
# API call (a garbage size handed to grpc's buffer pool).
set -euo pipefail

THANOS_VERSION=${THANOS_VERSION:-v0.42.5}
export GOTOOLCHAIN=${THANOS_GOTOOLCHAIN:-go1.26.10}
BIN_DIR=${1:-${ORB8_CACHE:-$HOME/.cache/orb8}/thanos/$THANOS_VERSION/bin}
BIN=$BIN_DIR/thanos

mkdir -p "$BIN_DIR"
# One build at a time: a second caller waits for the first one's binary.
exec 9>"$BIN_DIR/.lock"
flock 9
TAGS=netgo,slicelabels
# A binary built before the tags were given (the one that panics) is built again.
built_with_tags() { go version -m "$BIN" 2>/dev/null | grep -q "^[[:space:]]*build[[:space:]]*-tags=$TAGS\$"; }
if [[ ! -x $BIN ]] || ! built_with_tags; then
  echo "building thanos $THANOS_VERSION into $BIN_DIR; this takes 15-45 minutes once (2 CPUs)" >&2
  src=$(GOFLAGS=-mod=mod go mod download -json "github.com/thanos-io/thanos@$THANOS_VERSION" |
    sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -d $src ]] || { echo "thanos-binary: module source of $THANOS_VERSION not found" >&2; exit 1; }
  ldflags="-s -w -X github.com/prometheus/common/version.Version=${THANOS_VERSION#v}"
  # Build into a temp file and move, so an interrupted build leaves no half binary.
  tmp=$(mktemp -d "$BIN_DIR/.build.XXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -tags "$TAGS" -ldflags "$ldflags" -o "$tmp/thanos" ./cmd/thanos)
  mv "$tmp/thanos" "$BIN"
fi
echo "$BIN"
