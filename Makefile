# orb8: `make test` is the whole suite (what CI runs); `make generate` rebuilds the BPF objects.
GO        ?= go
BIN       := bin/orb8
CACHE     ?= $(HOME)/.cache/orb8
STATICCHECK_VERSION := v0.8.2
PROTOC_GEN_GO_VERSION      := 1.36.12
PROTOC_GEN_GO_GRPC_VERSION := 1.6.0
export PATH := $(CACHE)/bin:$(PATH)

.PHONY: all build generate check-generate deps-bpf deps-proto proto vmlinux lint test test-unit bench bench-compare clean docs docs-gen release

all: build

build:
	$(GO) build -o $(BIN) ./cmd/orb8

# Debian packages the BPF toolchain comes from; installed only when missing.
deps-bpf:
	@command -v clang >/dev/null && command -v bpftool >/dev/null && test -f /usr/include/bpf/bpf_helpers.h || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang llvm bpftool libbpf-dev >/dev/null)

# protoc from Debian, its Go plugins pinned: the generated API code is byte-identical.
deps-proto:
	@command -v protoc >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >/dev/null)
	@test "$$(protoc-gen-go --version 2>/dev/null)" = "protoc-gen-go v$(PROTOC_GEN_GO_VERSION)" || \
		GOBIN=$(CACHE)/bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v$(PROTOC_GEN_GO_VERSION)
	@test "$$(protoc-gen-go-grpc --version 2>/dev/null)" = "protoc-gen-go-grpc $(PROTOC_GEN_GO_GRPC_VERSION)" || \
		GOBIN=$(CACHE)/bin $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v$(PROTOC_GEN_GO_GRPC_VERSION)

# The gRPC API (api/**/*.proto) into Go, next to each .proto.
proto: deps-proto
	protoc -I api --go_out=api --go_opt=paths=source_relative \
		--go-grpc_out=api --go-grpc_opt=paths=source_relative $$(find api -name '*.proto' | sort)

generate: deps-bpf proto docs-gen
	$(GO) generate ./...
	$(GO) run ./hack/dashboards -out deploy/dashboards

# The reference pages under docs/reference, from the code (CLI tree, agent
# flags, metric descriptors, the .proto); hack/docs' test fails when stale.
docs-gen:
	$(GO) run ./hack/docs gen

# The documentation site (docs/ as HTML, man pages) into site/; fails on a
# broken internal link or anchor.
docs:
	$(GO) run ./hack/docs site -out site

# Regenerate and fail when the committed objects are stale.
check-generate: generate
	git diff --exit-code -- '*.go' '*.o' deploy/dashboards docs/reference || (echo "generated files are stale: run 'make generate' and commit" >&2; exit 1)

# vmlinux.h comes from the running kernel's BTF; regenerate only on purpose.
vmlinux: deps-bpf
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > internal/bpf/include/vmlinux.h

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting" >&2; exit 1)
	$(GO) vet ./...
	@command -v staticcheck >/dev/null || GOBIN=$(CACHE)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	staticcheck ./...

# The whole suite, as root: lint, generated-code check, then every test
# (probes load into the real kernel). hack/test.sh installs what tests need.
test:
	hack/test.sh

test-unit:
	$(GO) test ./...

# Benchmark suite: writes docs/bench/results.json and the suite section of docs/benchmarks.md.
bench:
	hack/bench.sh

# Release artefacts for linux/amd64 and linux/arm64 into dist/ (hack/release.sh):
# binaries, BPF objects, completions, man pages, the packaged chart, the krew
# manifest, checksums.
release:
	hack/release.sh

# The same suite, compared with the last recorded results (nothing is written).
bench-compare:
	hack/bench.sh -compare docs/bench/results.json -out $(CACHE)/bench-latest.json -doc ""

clean:
	rm -rf bin site dist
