#!/usr/bin/env bash
# make release: everything a release ships, into dist/, for linux/amd64 and
# linux/arm64:
#   orb8_<version>_linux_<arch>.tar.gz  the binary (cgo, for NVML), its BPF
#       objects, its SBOM (sbom.cdx.json), completion scripts, man pages,
#       deploy/ (chart, manifests, dashboards, alert rules), README and CHANGELOG
#   orb8_<version>_linux_<arch>.sbom.cdx.json  the binary's CycloneDX SBOM
#   orb8_<version>_image.oci.tar        the agent image for both architectures
#       (an OCI image layout: one index, a manifest per platform)
#   orb8-<chart version>.tgz            the Helm chart, linted (strict) and packaged
#   krew/orb8.yaml                      the krew manifest with the archives' sha256
#   SHA256SUMS                          of every file above
# The BPF objects are regenerated from source for both architectures first, and
# the release fails if they differ from the committed ones. Nothing here can
# run the arm64 binary: it is built, not tested (test/release checks what can
# be checked without running it).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
VERSION=${VERSION#v}
DIST=$(realpath -m "${DIST:-dist}")
ARCHES=(amd64 arm64)

step() { printf '\n=== %s\n' "$*"; }

step "toolchains: clang for the BPF objects, gcc for the arm64 cgo build"
make --no-print-directory deps-bpf
command -v aarch64-linux-gnu-gcc >/dev/null || {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu libc6-dev-arm64-cross >/dev/null
}

step "BPF objects for amd64 and arm64, from source"
go generate ./internal/probes/...
git diff --exit-code -- 'internal/probes/*.o' 'internal/probes/*_bpfel.go' ||
  { echo "release: the regenerated BPF objects differ from the committed ones: commit 'make generate' first" >&2; exit 1; }

rm -rf "$DIST"
mkdir -p "$DIST"
host=$(go env GOARCH)
for arch in "${ARCHES[@]}"; do
  step "orb8 $VERSION linux/$arch"
  name=orb8_${VERSION}_linux_$arch
  dir=$DIST/$name
  mkdir -p "$dir/bpf" "$dir/completion" "$dir/man"
  cc=gcc
  [[ $arch == "$host" ]] || cc=$([[ $arch == arm64 ]] && echo aarch64-linux-gnu-gcc || echo x86_64-linux-gnu-gcc)
  # go-nvml's cgo prints pages of deprecation warnings: keep them in a log.
  GOOS=linux GOARCH=$arch CGO_ENABLED=1 CC=$cc go build -trimpath \
    -ldflags "-s -w -X github.com/orb8/orb8/internal/version.Version=$VERSION" \
    -o "$dir/orb8" ./cmd/orb8 2>"$DIST/build-$arch.log" || { tail -20 "$DIST/build-$arch.log" >&2; exit 1; }
  bpfarch=$([[ $arch == amd64 ]] && echo x86 || echo arm64)
  cp internal/probes/*/*_"${bpfarch}"_bpfel.o "$dir/bpf/"
  go run ./hack/sbom -version "$VERSION" -o "$dir/sbom.cdx.json" "$dir/orb8"
  cp "$dir/sbom.cdx.json" "$DIST/$name.sbom.cdx.json"
  cp -r deploy README.md CHANGELOG.md "$dir/"
done

step "completion scripts and man pages (from the host's binary)"
hostbin=$DIST/orb8_${VERSION}_linux_$host/orb8
for arch in "${ARCHES[@]}"; do
  dir=$DIST/orb8_${VERSION}_linux_$arch
  for shell in bash zsh fish; do "$hostbin" completion "$shell" >"$dir/completion/orb8.$shell"; done
  go -C hack/docs run . man -out "$dir/man/man1"
done

step "image: linux/amd64 and linux/arm64 under one OCI image index"
# hack/mkimage: the binary, the libraries it links (glibc: from ldd for the
# host's architecture, from the cross toolchain's root for the other) and
# its SBOM, one layer per architecture; no registry or container engine.
layout=$DIST/image
for arch in "${ARCHES[@]}"; do
  dir=$DIST/orb8_${VERSION}_linux_$arch
  sysroot=()
  [[ $arch == "$host" ]] || sysroot=(-sysroot "/usr/$([[ $arch == arm64 ]] && echo aarch64 || echo x86_64)-linux-gnu")
  go -C hack/mkimage run . -tag "ghcr.io/orb8/orb8:$VERSION" -layout "$layout" -arch "$arch" "${sysroot[@]}" -libs \
    -entrypoint /orb8 "$dir/orb8=/orb8" "$dir/sbom.cdx.json=/usr/share/doc/orb8/sbom.cdx.json"
done
tar -C "$layout" --owner=0 --group=0 --sort=name -cf "$DIST/orb8_${VERSION}_image.oci.tar" .
rm -rf "$layout"

step "archives"
for arch in "${ARCHES[@]}"; do
  name=orb8_${VERSION}_linux_$arch
  tar -C "$DIST" --owner=0 --group=0 --sort=name -czf "$DIST/$name.tar.gz" "$name"
  rm -rf "${DIST:?}/$name" "$DIST/build-$arch.log"
done

step "Helm chart: lint (strict) and package"
(cd hack/helmtemplate && go run . -lint -package "$DIST" ../../deploy/helm/orb8) 2>/dev/null

step "krew manifest"
mkdir -p "$DIST/krew"
sed -e "s/{{VERSION}}/$VERSION/g" \
  -e "s/{{SHA256_linux_amd64}}/$(sha256sum "$DIST/orb8_${VERSION}_linux_amd64.tar.gz" | cut -d' ' -f1)/" \
  -e "s/{{SHA256_linux_arm64}}/$(sha256sum "$DIST/orb8_${VERSION}_linux_arm64.tar.gz" | cut -d' ' -f1)/" \
  deploy/krew/orb8.yaml >"$DIST/krew/orb8.yaml"

step "checksums"
(cd "$DIST" && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | sort | xargs sha256sum >SHA256SUMS)
cat "$DIST/SHA256SUMS"
