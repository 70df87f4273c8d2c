#!/usr/bin/env bash
# The security audit, outside the normal test run (make audit):
#   1. govulncheck over the agent's module and the project's tool modules,
#      against a local copy of the Go vulnerability database built from the
#      golang.org/x/vulndb module that hack/tools pins (the database's own
#      host is not reachable from CI machines; the module proxy is), with the
#      Go toolchain go.mod declares;
#   2. staticcheck over every module (make lint);
#   3. a timed fuzz campaign: every Fuzz target in the repository, one after
#      the other, FUZZTIME each (default 30s). A failing input is written to
#      the package's testdata/fuzz/<target>/ and fails the audit.
# Findings and their fixes are recorded in docs/security.md (Audit).
#
#   hack/audit.sh                    # all three
#   FUZZTIME=5m hack/audit.sh fuzz   # one step: vuln, lint, fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${ORB8_CACHE:-$HOME/.cache/orb8}
FUZZTIME=${FUZZTIME:-30s}
# Modules whose code ships or builds what ships.
VULN_MODULES=(. hack/mkimage hack/dashboards hack/helmtemplate)

step() { printf '\n=== %s\n' "$*"; }

vuln() {
  step "govulncheck"
  local version osv db toolchain
  version=$(go -C hack/tools list -m -f '{{.Version}}' golang.org/x/vulndb)
  osv=$(go -C hack/tools list -m -f '{{.Dir}}' golang.org/x/vulndb)/data/osv
  db=$CACHE/vulndb/$version
  if [[ ! -s $db/index/db.json ]]; then
    echo "indexing $(ls "$osv" | wc -l) OSV entries of golang.org/x/vulndb $version into $db"
    rm -rf "$db.tmp"
    go -C hack/tools tool indexdb -vulns "$osv" -out "$db.tmp"
    mv "$db.tmp" "$db"
  fi
  echo "database: golang.org/x/vulndb $version, $(ls "$db"/ID/*.json | wc -l) entries"
  # The standard library is checked at the toolchain releases are built with:
  # go.mod's toolchain line, which the Dockerfile follows. GOTOOLCHAIN makes
  # every go command govulncheck runs use it (fetched through the module
  # proxy when the local go is older).
  toolchain=$(go mod edit -json | sed -n 's/.*"Toolchain": "\(go[^"]*\)".*/\1/p')
  toolchain=${toolchain:-$(go env GOVERSION)}
  if [[ $(go env GOVERSION) != "$toolchain" ]]; then
    echo "note: the local $(go env GOVERSION) is not go.mod's $toolchain: binaries built here with" \
      "GOTOOLCHAIN=local lack the standard library fixes since $(go env GOVERSION)"
  fi
  GOBIN=$CACHE/bin go -C hack/tools install golang.org/x/vuln/cmd/govulncheck
  local m failed=0
  for m in "${VULN_MODULES[@]}"; do
    echo "--- $m ($toolchain)"
    (cd "$m" && GOTOOLCHAIN=$toolchain "$CACHE/bin/govulncheck" -db "file://$db" ./...) || failed=1
  done
  return $failed
}

lint() {
  step "staticcheck (make lint)"
  make --no-print-directory lint
}

fuzz() {
  step "fuzz campaign: $FUZZTIME per target"
  local file line pkg name corpus before log start=$SECONDS failed=0 n=0
  log=$(mktemp)
  # Every "func FuzzX(" in a _test.go file of a package of the agent's module.
  while IFS=: read -r file line; do
    name=$(sed -n "${line}s/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p" "$file")
    pkg=./$(dirname "$file")
    corpus=$(dirname "$file")/testdata/fuzz/$name
    before=$(ls "$corpus" 2>/dev/null || true)
    n=$((n + 1))
    echo "--- $pkg $name"
    go test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1 || true
    grep '^fuzz: elapsed' "$log" | tail -1 || true
    grep -v '^fuzz: elapsed' "$log" || true
    grep -q '^ok ' "$log" && continue
    # Go 1.26's fuzz coordinator can fail a run as its -fuzztime ends, with
    # "context deadline exceeded" and no failing input (golang/go#75804,
    # fixed in Go 1.27): not a finding. A finding writes its input to the
    # package's testdata/fuzz/<target>/ (commit it with the fix).
    if [[ $(ls "$corpus" 2>/dev/null || true) == "$before" ]] && grep -q '^    context deadline exceeded$' "$log"; then
      echo "($name: the coordinator's end-of-run deadline race, golang/go#75804; no failing input)"
      continue
    fi
    failed=1
  done < <(git grep --untracked -n '^func Fuzz' -- '*_test.go' ':!hack/' | cut -d: -f1,2)
  rm -f "$log"
  echo "fuzz campaign: $n targets, $FUZZTIME each, in $((SECONDS - start))s"
  return $failed
}

status=0
for s in "${@:-vuln lint fuzz}"; do
  for one in $s; do
    case $one in
    vuln | lint | fuzz) "$one" || status=1 ;;
    *) echo "usage: $0 [vuln] [lint] [fuzz]" >&2; exit 2 ;;
    esac
  done
done
if ((status)); then
  echo "audit: findings above" >&2
else
  echo "audit: clean"
fi
exit $status
