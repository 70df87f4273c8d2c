#!/usr/bin/env bash
# The end-to-end tests on the project's own cluster, as CI runs them: brings
# the cluster up (hack/cluster.sh up), deploys the agent built from this
# working tree (deploy), runs the cluster tests of test/e2e (build tag e2e),
# and always takes the cluster down, whatever failed. Exits with the first
# failure's status: the cluster's, else the tests'.
#
#   sudo hack/e2e.sh                 # the cluster tests (-run Cluster)
#   sudo hack/e2e.sh -v -run TestClusterSurvivesAPIServerRestart   # go test flags; a -run replaces Cluster
#
# A cluster already up is reused and taken down too. The Kubernetes binaries
# are built once into ~/.cache/orb8 (hack/lib/k8s-binaries.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) != 0 ]]; then
  echo "hack/e2e.sh: run as root (the cluster runs kubelet and containerd here)" >&2
  exit 1
fi
# One cluster per machine (fixed ports, bridge and state directory): a second
# run waits for the first. A caller that holds the lock already (a longer
# session under `flock /run/orb8-e2e.lock`) says so with ORB8_E2E_LOCKED=1.
if [[ -z ${ORB8_E2E_LOCKED:-} ]]; then
  exec 9>/run/orb8-e2e.lock
  flock 9
fi
trap 'hack/cluster.sh down' EXIT

start=$SECONDS
kubeconfig=$(hack/cluster.sh up | tail -1)
[[ $kubeconfig == KUBECONFIG=/* ]] || { echo "hack/e2e.sh: cluster.sh up printed no KUBECONFIG" >&2; exit 1; }
export "${kubeconfig?}"
echo "e2e: cluster up in $((SECONDS - start))s" >&2
hack/cluster.sh deploy >/dev/null
echo "e2e: agent deployed after $((SECONDS - start))s" >&2
go test -tags e2e -count=1 -timeout 15m -run Cluster "$@" ./test/e2e/
