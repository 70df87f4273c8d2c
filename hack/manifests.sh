#!/usr/bin/env bash
# Renders the Helm chart into the plain manifests under deploy/ (for users
# without helm: kubectl apply -f deploy/orb8.yaml). With --check, fails when
# the committed manifests differ from the chart, or when the chart's own tests
# (hack/helmtemplate/chart_test.go: unprivileged, read-only RBAC, every alert
# rule and dashboard shipped) fail (CI runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
# The plain manifests carry no generated key: the agents' cluster API (TLS from
# a CA the chart makes) is off there; install with Helm, or set
# api.cluster.secretName and caBundle, to reach agents with --all-nodes.
render() {
  (cd hack/helmtemplate && go run . --set createNamespace=true --set api.cluster.enabled=false ../../deploy/helm/orb8)
}
if [[ ${1:-} == --check ]]; then
  if ! diff -u deploy/orb8.yaml <(echo "# Generated from deploy/helm/orb8 by hack/manifests.sh; do not edit."; render); then
    echo "deploy/orb8.yaml is stale: run hack/manifests.sh" >&2
    exit 1
  fi
  (cd hack/helmtemplate && go test -count=1 ./...)
  exit 0
fi
{
  echo "# Generated from deploy/helm/orb8 by hack/manifests.sh; do not edit."
  render
} >deploy/orb8.yaml.tmp && mv deploy/orb8.yaml.tmp deploy/orb8.yaml
