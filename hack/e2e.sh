#!/usr/bin/env bash
# The end-to-end tests on the project's own cluster, as CI runs them: brings
# the cluster up (hack/cluster.sh up), deploys the agent built from this
# working tree (deploy), runs the cluster tests of test/e2e (build tag e2e),
# and always takes the cluster down, whatever failed. Exits with the first
# failure's status: the cluster's, else the tests'.
#
# The two-cluster tests (TestClusterTwoClusters*) run last, on their own:
# once the others are done, the second cluster, b, comes up beside the first
# (CLUSTER=b hack/cluster.sh up and deploy), only when the run selects one of
# them; its kubeconfig is ORB8_KUBECONFIG_B. The other tests run as before,
# with b down (b adds a control plane's load to the node), under a -skip of
# the two-cluster tests (which replaces one given here).
#
#   sudo hack/e2e.sh                 # the cluster tests (-run '^TestCluster')
#   sudo hack/e2e.sh -v -run TestClusterSurvivesAPIServerRestart   # go test flags; a -run replaces '^TestCluster'
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
# b (if up) before a: each puts back the kernel settings it found.
trap 'CLUSTER=b hack/cluster.sh down || true; hack/cluster.sh down' EXIT

# The two-cluster tests the run selects (two), and whether it selects others:
# all of them by default; with a -run (the last one counts), those it lists.
pattern='' prev=''
for arg in "$@"; do
  case $arg in -run=* | --run=*) pattern=${arg#*=} ;; esac
  [[ $prev == -run || $prev == --run ]] && pattern=$arg
  prev=$arg
done
two='TestClusterTwoClusters.*' others=yes
if [[ -n $pattern ]]; then
  # A package that does not build, or a -run that lists nothing (such as a
  # subtest pattern), is an error, not a run of no tests.
  listed=$(go test -tags e2e -list "$pattern" ./test/e2e/)
  selected=$(grep '^Test' <<<"$listed" || true)
  [[ -n $selected ]] || { echo "hack/e2e.sh: -run $pattern selects no test of test/e2e" >&2; exit 1; }
  two=$(grep '^TestClusterTwoClusters' <<<"$selected" | paste -sd '|' || true)
  others=$(grep -v '^TestClusterTwoClusters' <<<"$selected" || true)
fi

start=$SECONDS
kubeconfig=$(hack/cluster.sh up | tail -1)
[[ $kubeconfig == KUBECONFIG=/* ]] || { echo "hack/e2e.sh: cluster.sh up printed no KUBECONFIG" >&2; exit 1; }
export "${kubeconfig?}"
echo "e2e: cluster up in $((SECONDS - start))s" >&2
hack/cluster.sh deploy >/dev/null
echo "e2e: agent deployed after $((SECONDS - start))s" >&2
status=0
if [[ -n $others ]]; then
  go test -tags e2e -count=1 -timeout 15m -run '^TestCluster' "$@" -skip '^TestClusterTwoClusters' ./test/e2e/ || status=$?
fi
if [[ -n $two ]]; then
  start=$SECONDS
  kubeconfig=$(CLUSTER=b hack/cluster.sh up | tail -1)
  [[ $kubeconfig == KUBECONFIG=/* ]] || { echo "hack/e2e.sh: CLUSTER=b cluster.sh up printed no KUBECONFIG" >&2; exit 1; }
  export ORB8_KUBECONFIG_B=${kubeconfig#KUBECONFIG=}
  echo "e2e: cluster b up in $((SECONDS - start))s" >&2
  CLUSTER=b hack/cluster.sh deploy >/dev/null
  echo "e2e: agent deployed in b after $((SECONDS - start))s" >&2
  go test -tags e2e -count=1 -timeout 10m "$@" -run "^($two)\$" ./test/e2e/ || { rc=$?; ((status)) || status=$rc; }
fi
exit $status
