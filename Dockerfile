# The orb8 agent image. The BPF objects are committed (bpf2go output), so the
# build needs no clang. cgo stays on: go-nvml dlopens libnvidia-ml at run time.
#   docker build -t ghcr.io/orb8/orb8:$(git describe --tags) --build-arg VERSION=$(git describe --tags) .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN go build -trimpath -ldflags "-s -w -X github.com/orb8/orb8/internal/version.Version=${VERSION}" -o /out/orb8 ./cmd/orb8

# glibc for cgo; no shell, no package manager.
FROM gcr.io/distroless/base-debian12
COPY --from=build /out/orb8 /orb8
ENTRYPOINT ["/orb8"]
CMD ["agent"]
