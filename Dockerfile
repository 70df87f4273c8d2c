# The orb8 agent image. The BPF objects are committed (bpf2go output), so the
# build needs no clang. cgo stays on: go-nvml dlopens libnvidia-ml at run time.
#   docker build -t ghcr.io/orb8/orb8:$(git describe --tags) --build-arg VERSION=$(git describe --tags) .
#
# Base images are pinned by digest; the tag says what each is. The digests are
# those that public projects' Dependabot and Renovate pins carried in 2026:
# this project's machines reach no registry and could not confirm them. To
# update, look up the current digests and replace them:
#   crane digest golang:1.26-bookworm
#   crane digest gcr.io/distroless/base-debian12
# (or docker buildx imagetools inspect IMAGE).
FROM golang:1.26-bookworm@sha256:b305420a68d0f229d91eb3b3ed9e519fcf2cf5461da4bef997bf927e8c0bfd2b AS build
# The toolchain go.mod names (its toolchain line, with the standard library's
# security fixes that make audit checks for), whatever Go the pinned image has.
ENV GOTOOLCHAIN=auto
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG SOURCE_DATE_EPOCH
RUN go build -trimpath -ldflags "-s -w -X github.com/orb8/orb8/internal/version.Version=${VERSION}" -o /out/orb8 ./cmd/orb8 && \
    go run ./hack/sbom -version "${VERSION}" -o /out/orb8.cdx.json /out/orb8

# glibc for cgo; no shell, no package manager.
FROM gcr.io/distroless/base-debian12@sha256:9e9b50d2048db3741f86a48d939b4e4cc775f5889b3496439343301ff54cdba8
COPY --from=build /out/orb8 /orb8
# The SBOM of /orb8 (CycloneDX): the Go modules linked into it, at their versions.
COPY --from=build /out/orb8.cdx.json /usr/share/doc/orb8/sbom.cdx.json
ENTRYPOINT ["/orb8"]
CMD ["agent"]
