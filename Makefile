# orb8: `make test` is the whole suite (what CI runs); `make generate` rebuilds the BPF objects
# and what is generated from them (dashboards, docs/kernel-requirements.md).
GO        ?= go
BIN       := bin/orb8
CACHE     ?= $(HOME)/.cache/orb8
# Build and test tools (staticcheck, protoc plugins, govulncheck) come from
# their own module, hack/tools: versions pinned in its go.mod and go.sum,
# nothing of theirs in the agent's module graph.
TOOLS     := $(GO) -C hack/tools
export PATH := $(CACHE)/bin:$(PATH)

.PHONY: all build generate check-generate deps-bpf deps-proto proto vmlinux lint test test-unit anomaly-eval bench bench-compare audit sbom clean docs docs-gen release

all: build

build:
	$(GO) build -o $(BIN) ./cmd/orb8

# Debian packages the BPF toolchain comes from; installed only when missing.
deps-bpf:
	@command -v clang >/dev/null && command -v bpftool >/dev/null && test -f /usr/include/bpf/bpf_helpers.h || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang llvm bpftool libbpf-dev >/dev/null)

# protoc from Debian, its Go plugins pinned (hack/tools): the generated API code is byte-identical.
deps-proto:
	@command -v protoc >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler >/dev/null)
	GOBIN=$(CACHE)/bin $(TOOLS) install google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc

# The gRPC API (api/**/*.proto) into Go, next to each .proto.
proto: deps-proto
	protoc -I api --go_out=api --go_opt=paths=source_relative \
		--go-grpc_out=api --go-grpc_opt=paths=source_relative $$(find api -name '*.proto' | sort)

# The reference pages come last: they are generated from code that needs
# the objects.
generate: deps-bpf proto
	$(GO) generate ./...
	$(GO) -C hack/dashboards run . -out $(CURDIR)/deploy/dashboards
	$(GO) run ./hack/kernelreq -out docs/kernel-requirements.md
	$(MAKE) --no-print-directory docs-gen

# The reference pages under docs/reference, from the code (CLI tree, agent
# flags, metric descriptors, the .proto); hack/docs' test fails when stale.
docs-gen:
	$(GO) -C hack/docs run . gen -root $(CURDIR)

# The documentation site (docs/ as HTML, man pages) into site/; fails on a
# broken internal link or anchor. hack/docs is a module of its own.
docs:
	$(GO) -C hack/docs run . site -root $(CURDIR) -out $(CURDIR)/site

# Regenerate and fail when the committed objects (and what is generated from
# them) are stale.
check-generate: generate
	git diff --exit-code -- '*.go' '*.o' deploy/dashboards docs/reference docs/kernel-requirements.md || (echo "generated files are stale: run 'make generate' and commit" >&2; exit 1)

# vmlinux.h comes from the running kernel's BTF; regenerate only on purpose.
vmlinux: deps-bpf
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > internal/bpf/include/vmlinux.h

# The agent's module and the project's own tool modules (each with its own
# go.mod): gofmt, go mod tidy, vet, staticcheck. hack/k8s only wraps Kubernetes;
# hack/otelcol is the test OpenTelemetry Collector (hack/lib/otelcol-binary.sh).
MODULES := . hack/dashboards hack/docs hack/mkimage hack/helmtemplate hack/otelcol hack/tools

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting" >&2; exit 1)
	@for m in $(MODULES); do $(GO) -C $$m mod tidy -diff >/dev/null || { echo "go mod tidy: $$m/go.mod is not tidy" >&2; exit 1; }; done
	GOBIN=$(CACHE)/bin $(TOOLS) install honnef.co/go/tools/cmd/staticcheck
	@for m in $(filter-out hack/tools,$(MODULES)); do echo "vet, staticcheck: $$m"; \
		(cd $$m && $(GO) vet -tags e2e ./... && staticcheck -tags e2e ./...) || exit 1; done

# The whole suite, as root: lint, generated-code check, then every test
# (probes load into the real kernel). hack/test.sh installs what tests need.
test:
	hack/test.sh

test-unit:
	$(GO) test ./...

# The anomaly detection's evaluation (docs/anomaly.md), as root: normal
# workloads for a learned day and 4 more in test cgroups, then 6 attacks,
# at a model minute of 100ms (a day in 2m24s; about 15 minutes in all);
# writes its results into docs/anomaly.md. `make test` runs a short form.
anomaly-eval:
	$(GO) test -count=1 -timeout 60m -run '^TestAnomalyEval$$' -v ./internal/anomaly/eval \
		-args -eval.minute 100ms -eval.learn 1440 -eval.days 4 -eval.doc $(CURDIR)/docs/anomaly.md

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

# The security audit, outside `make test`: govulncheck against a local copy
# of the Go vulnerability database (from the module proxy), staticcheck, and
# FUZZTIME (default 30s) of fuzzing per Fuzz target. See docs/security.md.
audit:
	hack/audit.sh

# A CycloneDX SBOM of the agent binary (the image's only program) from the
# module graph linked into it.
sbom: build
	$(GO) run ./hack/sbom -version "$$(git describe --tags --always --dirty 2>/dev/null || echo dev)" -o $(BIN).cdx.json $(BIN)

clean:
	rm -rf bin site dist
