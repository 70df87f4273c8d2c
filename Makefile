# orb8: `make test` is the whole suite (what CI runs); `make generate` rebuilds the BPF objects.
GO        ?= go
BIN       := bin/orb8
CACHE     ?= $(HOME)/.cache/orb8
STATICCHECK_VERSION := v0.8.2
export PATH := $(CACHE)/bin:$(PATH)

.PHONY: all build generate check-generate deps-bpf vmlinux lint test test-unit bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/orb8

# Debian packages the BPF toolchain comes from; installed only when missing.
deps-bpf:
	@command -v clang >/dev/null && command -v bpftool >/dev/null && test -f /usr/include/bpf/bpf_helpers.h || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang llvm bpftool libbpf-dev >/dev/null)

generate: deps-bpf
	$(GO) generate ./...

# Regenerate and fail when the committed objects are stale.
check-generate: generate
	git diff --exit-code -- '*.go' '*.o' || (echo "generated files are stale: run 'make generate' and commit" >&2; exit 1)

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

bench: build
	hack/bench.sh

clean:
	rm -rf bin
