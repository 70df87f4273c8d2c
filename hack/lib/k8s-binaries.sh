#!/usr/bin/env bash
# Builds the pinned Kubernetes binaries from the wrapper module in hack/k8s
# into the cache, once per version. Usage: hack/lib/k8s-binaries.sh [bin-dir]
# Prints the bin directory on success.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${1:-${ORB8_CACHE:-$HOME/.cache/orb8}/k8s/$K8S_VERSION/bin}
COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

missing=()
for c in "${COMPONENTS[@]}"; do
  [[ -x $BIN_DIR/$c ]] || missing+=("./$c")
done
if ((${#missing[@]})); then
  mkdir -p "$BIN_DIR"
  echo "building ${missing[*]} (Kubernetes $K8S_VERSION) into $BIN_DIR; this takes 10-20 minutes once (several in a busy machine)" >&2
  v=${K8S_VERSION#v}
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=${v%%.*}"
  ldflags+=" -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$v")"
  ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
  # Build into a temp dir and move, so an interrupted build leaves no half binary.
  tmp=$(mktemp -d "$BIN_DIR/.build.XXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$HACK_DIR/k8s" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${missing[@]}")
  mv "$tmp"/* "$BIN_DIR/"
fi
echo "$BIN_DIR"
