#!/usr/bin/env bash
# orb8's own single-node Kubernetes cluster, for tests and demos.
#
#   hack/cluster.sh up      build/cache the binaries, start etcd, the control plane,
#                           containerd, kubelet and kube-proxy; wait for the node to be
#                           Ready; print KUBECONFIG=<path> last. Idempotent.
#   hack/cluster.sh deploy  build the agent image from the working tree, import it,
#                           install the Helm chart (rendered by hack/helmtemplate)
#   hack/cluster.sh undeploy  remove what deploy installed (the namespace and the
#                           cluster-wide objects), e.g. to install the chart with Helm
#   hack/cluster.sh status  what runs
#   hack/cluster.sh down    stop everything `up` started; remove pods, cgroups,
#                           network namespaces, the bridge and the state
#   hack/cluster.sh stop-apiserver | start-apiserver   (for degradation tests)
#   hack/cluster.sh alias-image REF  tag the deployed agent image as REF too, so
#                           manifests naming a release image run without a registry
#
# Everything listens on loopback or on the cluster's own bridge (orb8br0,
# 10.244.0.1/24), which is also the node's address; pod traffic stays on that
# bridge: pods have routes only to the pod and service ranges (and to the pods
# of cluster b), and a FORWARD rule drops anything else that would leave it.
#
# Two clusters side by side: CLUSTER=b hack/cluster.sh up|deploy|status|down
# runs a second one, b, beside this one (CLUSTER unset, or a). Each has its
# own etcd, API server, containerd, kubelet, kube-proxy, state directory and
# pod range; the hub's tests name b's pods as the peers of a's (docs/fleet.md).
#   - b's node is a network namespace, orb8-b: all of b's processes run in it
#     (nsenter --net, which leaves the mount namespace alone, unlike `ip netns
#     exec`). Every port b's components and b's agent (host network, fixed
#     ports) listen on is then b's own, as on a second machine; b's kube-proxy
#     has its own iptables (two kube-proxies in one namespace would both own
#     the KUBE-* chains) and its own conntrack table, which b's agent reads.
#   - b's bridge is orb8br1, 10.245.0.1/24, Services 10.97.0.0/16 (no address
#     of b is also one of a's). A veth pair joins b to the host (orb8v-b,
#     169.254.245.1/30, and orb8v0, .2, in orb8-b): the host routes b's pod
#     range there, so b's API server (10.245.0.1:6443) answers from the host,
#     and pods of a and of b reach each other; a FORWARD rule on each side
#     lets exactly that traffic off the bridges.
#   - Not network: b's state is /var/lib/orb8-cluster-b (ORB8_CLUSTER_DIR + -b),
#     with its containerd (socket, root, state, runc root, the pods' network
#     namespaces), kubelet root and pod logs in it; kubelet's cgroupRoot is
#     /orb8-b (b's pods: /orb8-b/kubepods/... in every hierarchy), so that
#     `down` of one cluster finds and removes its own pods and nothing of the
#     other's. b's agent keeps its API socket in /run/orb8-b.
#   - Shared: the kernel, the PID namespace and the cgroup hierarchies, so each
#     cluster's agent sees every cgroup and names only its own cluster's pods.
#     The kernel settings kubelet changes are put back as each cluster found
#     them: take b down before a. Start a before b: a's FORWARD drop rule goes
#     first in the chain, and b's `up` (again) puts b's rule before it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
K8S_VERSION=${K8S_VERSION:-v1.37.2}
CACHE=${ORB8_CACHE:-$HOME/.cache/orb8}
BIN=$CACHE/k8s/$K8S_VERSION/bin
CLUSTER=${CLUSTER:-a}
# PEER_POD_CIDR: the other cluster's pods, routed and let through from this
# one's. NETNS: the node's network namespace (none: the host's).
# CGROUP_PARENT: kubelet's cgroupRoot (none: the hierarchies' roots).
case $CLUSTER in
a)
  STATE=${ORB8_CLUSTER_DIR:-/var/lib/orb8-cluster}
  NODE=${ORB8_NODE_NAME:-orb8-node}
  BRIDGE=orb8br0 NODE_IP=10.244.0.1 POD_CIDR=10.244.0.0/24 SERVICE_CIDR=10.96.0.0/16
  PEER_POD_CIDR=10.245.0.0/24
  NETNS='' CGROUP_PARENT=''
  ;;
b)
  STATE=${ORB8_CLUSTER_DIR:-/var/lib/orb8-cluster}-b
  NODE=${ORB8_NODE_NAME:-orb8-node}-b
  BRIDGE=orb8br1 NODE_IP=10.245.0.1 POD_CIDR=10.245.0.0/24 SERVICE_CIDR=10.97.0.0/16
  PEER_POD_CIDR=10.244.0.0/24 PEER_BRIDGE=orb8br0
  NETNS=orb8-b CGROUP_PARENT=/orb8-b
  # The veth pair between the host and orb8-b.
  HOST_VETH=orb8v-b HOST_VETH_IP=169.254.245.1 NETNS_VETH=orb8v0 NETNS_VETH_IP=169.254.245.2
  ;;
*)
  echo "cluster: error: CLUSTER=$CLUSTER: the clusters are a (the default) and b" >&2
  exit 2
  ;;
esac
API_PORT=6443
ETCD_PORT=23790
PAUSE_IMAGE=registry.k8s.io/pause:3.10
BUSYBOX_IMAGE=docker.io/library/busybox:orb8
AGENT_IMAGE=${ORB8_IMAGE:-ghcr.io/orb8/orb8:dev}
CNI_BIN=/usr/lib/cni
KUBECONFIG_FILE=$STATE/admin.kubeconfig
CONTAINERD_SOCK=$STATE/containerd/containerd.sock
# The order processes start in; `down` stops them in reverse.
COMPONENTS=(etcd kube-apiserver containerd kube-controller-manager kube-scheduler kubelet kube-proxy)
# Kernel settings kubelet and kube-proxy change; `down` puts them back
# (b's network settings are its namespace's own and go with it).
SYSCTLS=(kernel.panic kernel.panic_on_oops vm.overcommit_memory vm.panic_on_oom)
[[ -n $NETNS ]] || SYSCTLS+=(net.bridge.bridge-nf-call-iptables net.ipv4.ip_forward)
# What runs on the node runs in its network namespace.
INNET=()
[[ -z $NETNS ]] || INNET=(nsenter "--net=/run/netns/$NETNS")
# Where kubelet puts the pods' cgroups.
KUBEPODS=$CGROUP_PARENT/kubepods

log() { echo "cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }

kubectl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
ctr() { command ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }

# --- prerequisites ----------------------------------------------------------

ensure_packages() {
  local want=() pkg cmd
  for pair in etcd-server:etcd containerd:containerd runc:runc containernetworking-plugins:$CNI_BIN/bridge \
    busybox-static:/bin/busybox iptables:iptables conntrack:conntrack openssl:openssl iproute2:ip curl:curl; do
    pkg=${pair%%:*} cmd=${pair#*:}
    if [[ $cmd == /* ]]; then [[ -e $cmd ]] || want+=("$pkg"); else command -v "$cmd" >/dev/null || want+=("$pkg"); fi
  done
  ((${#want[@]})) || return 0
  log "installing ${want[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # policy-rc.d keeps the packages' own services (containerd, etcd) from starting.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
}

ensure_binaries() {
  "$ROOT/hack/lib/k8s-binaries.sh" "$BIN" >/dev/null
}

# --- processes --------------------------------------------------------------

pidfile() { echo "$STATE/run/$1.pid"; }
# starttime PID: when the process started (clock ticks since boot), so that a
# pid file left by another boot or machine never names a process it did not start.
starttime() { awk '{sub(/^.*\) /, ""); print $20}' "/proc/$1/stat" 2>/dev/null; }
# pidof_started NAME: the pid of NAME's process, if it is the one start() started.
pidof_started() {
  local p t
  read -r p t 2>/dev/null <"$(pidfile "$1")" || return 1
  [[ -n $p && -n $t && $(starttime "$p") == "$t" ]] && echo "$p"
}
running() { pidof_started "$1" >/dev/null; }

# start NAME CMD...: runs CMD in its own session, logging to $STATE/logs/NAME.log.
start() {
  local name=$1; shift
  running "$name" && return 0
  mkdir -p "$STATE/run" "$STATE/logs"
  setsid "${INNET[@]}" "$@" >>"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo "$! $(starttime $!)" >"$(pidfile "$name")"
  log "started $name (pid $!)"
}

stop() {
  local name=$1 p i
  if p=$(pidof_started "$name"); then
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$p" 2>/dev/null || true
    log "stopped $name"
  fi
  rm -f "$(pidfile "$name")"
}

# wait_for WHAT SECONDS CMD...: retries CMD until it succeeds.
wait_for() {
  local what=$1 secs=$2 i; shift 2
  for ((i = 0; i < secs * 2; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "$what not ready after ${secs}s (logs: $STATE/logs)"
}

# --- configuration (written once per state dir) -----------------------------

token() { openssl rand -hex 16; }

kubeconfig() { # kubeconfig FILE TOKEN
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: orb8
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority: $STATE/pki/apiserver.crt
users:
- name: orb8
  user:
    token: $2
contexts:
- name: orb8
  context: {cluster: orb8, user: orb8}
current-context: orb8
EOF
}

# State left by a cluster that is no longer running (a killed run, another
# checkout's cluster.sh) may not match this script: start it afresh.
discard_stale_state() {
  local c
  for c in "${COMPONENTS[@]}"; do running "$c" && return 0; done
  [[ -e $STATE ]] || return 0
  log "discarding state no running cluster uses: $STATE"
  cleanup_mounts
  rm -rf "$STATE"
}

# cert NAME SUBJECT [SAN]: a key and certificate in pki/ signed by the
# cluster CA, for a server when SAN is given, else for a client.
cert() {
  local name=$1 subj=$2 san=${3:-} ext=$STATE/pki/$1.ext
  if [[ -n $san ]]; then
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san"
  else
    printf 'extendedKeyUsage=clientAuth\n'
  fi >"$ext"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$STATE/pki/$name.key" -subj "$subj" \
    -out "$STATE/pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$STATE/pki/$name.csr" -CA "$STATE/pki/ca.crt" -CAkey "$STATE/pki/ca.key" \
    -CAcreateserial -days 30 -extfile "$ext" -out "$STATE/pki/$name.crt" 2>/dev/null
  rm -f "$ext" "$STATE/pki/$name.csr"
}

write_config() {
  [[ -e $STATE/.configured ]] && return 0
  mkdir -p "$STATE"/{pki,etcd,kubelet,containerd,cni/net.d,run,logs,manifests}
  # Identities: static tokens (the API server generates its own serving
  # certificate into pki/); the service account key signs pods' tokens.
  openssl genrsa -out "$STATE/pki/sa.key" 2048 2>/dev/null
  # The kubelet's API (exec, logs, port-forward) wants a client certificate
  # or a token the API server vouches for (webhook), and asks the API server
  # whether the caller may: the API server presents a certificate of this CA
  # (user kube-apiserver-kubelet-client, bound to system:kubelet-api-admin in
  # cmd_up) and checks the kubelet's serving certificate against it.
  openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$STATE/pki/ca.key" -subj "/CN=orb8-cluster-ca" \
    -days 30 -out "$STATE/pki/ca.crt" 2>/dev/null
  cert apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client"
  cert kubelet "/CN=system:node:$NODE" "IP:$NODE_IP,DNS:$NODE"
  local admin node cm sched proxy
  admin=$(token) node=$(token) cm=$(token) sched=$(token) proxy=$(token)
  cat >"$STATE/pki/tokens.csv" <<EOF
$admin,orb8-admin,orb8-admin,"system:masters"
$node,system:node:$NODE,system:node:$NODE,"system:nodes"
$cm,system:kube-controller-manager,system:kube-controller-manager
$sched,system:kube-scheduler,system:kube-scheduler
$proxy,system:kube-proxy,system:kube-proxy
EOF
  chmod 600 "$STATE/pki/tokens.csv"
  kubeconfig "$KUBECONFIG_FILE" "$admin"
  kubeconfig "$STATE/kubelet.kubeconfig" "$node"
  kubeconfig "$STATE/controller-manager.kubeconfig" "$cm"
  kubeconfig "$STATE/scheduler.kubeconfig" "$sched"
  kubeconfig "$STATE/proxy.kubeconfig" "$proxy"
  # Pods get a resolver that answers nothing rather than the host's.
  echo "nameserver 127.0.0.1" >"$STATE/resolv.conf"

  # b's runc state and pod network namespaces are its own too (a's are the
  # defaults, /run/containerd/runc and /run/netns/cni-*).
  local runtime_extra='' cri_extra=''
  if [[ -n $NETNS ]]; then
    cri_extra='netns_mounts_under_state_dir = true'
    runtime_extra="[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]
    Root = \"$STATE/containerd/runc\""
  fi
  cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Root here lacks CAP_SYS_RESOURCE: runc must not lower oom_score_adj.
  restrict_oom_score_adj = true
  $cri_extra
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  $runtime_extra
EOF
  cat >"$STATE/cni/net.d/10-orb8.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "orb8${NETNS:+-$CLUSTER}",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
              "routes": [{"dst": "$SERVICE_CIDR"}, {"dst": "$PEER_POD_CIDR"}],
              "dataDir": "$STATE/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  # b's pods under a cgroup root of their own; b's pod logs in its state
  # (kubelet removes the log directories of pods its runtime does not know).
  local kubelet_extra=''
  [[ -z $NETNS ]] || kubelet_extra="cgroupRoot: $CGROUP_PARENT
podLogsDir: $STATE/pod-logs"
  cat >"$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
resolvConf: $STATE/resolv.conf
# Static pods (their mirror pods carry the manifest's hash as the cgroup UID).
staticPodPath: $STATE/manifests
tlsCertFile: $STATE/pki/kubelet.crt
tlsPrivateKeyFile: $STATE/pki/kubelet.key
# No anonymous access: client certificates of the cluster CA, or bearer
# tokens checked with a TokenReview; every request authorized by the API
# server (SubjectAccessReview on nodes/proxy, nodes/log, ...).
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: Webhook}
evictionHard: {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"}
imageGCHighThresholdPercent: 100
registerNode: true
serializeImagePulls: false
$kubelet_extra
EOF
  cat >"$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE
clientConnection: {kubeconfig: $STATE/proxy.kubeconfig}
bindAddress: 127.0.0.1
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# Leave the host's conntrack settings alone.
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
EOF
  for s in "${SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s" 2>/dev/null || echo)"; done >"$STATE/sysctl.saved"
  touch "$STATE/.configured"
}

# --- network ----------------------------------------------------------------

# innet CMD...: runs CMD in the node's network namespace.
innet() { "${INNET[@]}" "$@"; }

setup_network() {
  [[ -z $NETNS ]] || join_host
  if ! innet ip link show "$BRIDGE" >/dev/null 2>&1; then
    innet ip link add "$BRIDGE" type bridge
  fi
  innet ip addr replace "$NODE_IP/24" dev "$BRIDGE"
  innet ip link set "$BRIDGE" up
  # Service IPs that kube-proxy did not translate stay on the bridge instead
  # of following the default route off this machine.
  innet ip route replace "$SERVICE_CIDR" dev "$BRIDGE"
  modprobe br_netfilter 2>/dev/null || true
  innet sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  innet iptables -C FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -j DROP 2>/dev/null ||
    innet iptables -I FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -j DROP
  if [[ -n $NETNS ]]; then
    # b's pods to a's, before the drop.
    innet iptables -C FORWARD -i "$BRIDGE" -o "$NETNS_VETH" -d "$PEER_POD_CIDR" -j ACCEPT 2>/dev/null ||
      innet iptables -I FORWARD -i "$BRIDGE" -o "$NETNS_VETH" -d "$PEER_POD_CIDR" -j ACCEPT
  fi
}

# join_host makes b's node namespace and the veth pair that joins it to the
# host, with the routes between a's and b's pod ranges.
join_host() {
  [[ -e /run/netns/$NETNS ]] || ip netns add "$NETNS"
  ip link show "$HOST_VETH" >/dev/null 2>&1 ||
    ip link add "$HOST_VETH" type veth peer name "$NETNS_VETH" netns "$NETNS"
  ip addr replace "$HOST_VETH_IP/30" dev "$HOST_VETH"
  ip link set "$HOST_VETH" up
  innet ip link set lo up
  innet ip addr replace "$NETNS_VETH_IP/30" dev "$NETNS_VETH"
  innet ip link set "$NETNS_VETH" up
  ip route replace "$POD_CIDR" via "$NETNS_VETH_IP" dev "$HOST_VETH"
  innet ip route replace "$PEER_POD_CIDR" via "$HOST_VETH_IP" dev "$NETNS_VETH"
  innet sysctl -qw net.ipv4.ip_forward=1
  # a's pods to b's: first in the host's chain, before a's drop (moved there
  # again by every `up`, should a have come up after b).
  iptables -D FORWARD -i "$PEER_BRIDGE" -o "$HOST_VETH" -d "$POD_CIDR" -j ACCEPT 2>/dev/null || true
  iptables -I FORWARD -i "$PEER_BRIDGE" -o "$HOST_VETH" -d "$POD_CIDR" -j ACCEPT
}

# leave_host undoes join_host: the namespace takes its links, routes,
# iptables and kube-proxy's rules with it.
leave_host() {
  iptables -D FORWARD -i "$PEER_BRIDGE" -o "$HOST_VETH" -d "$POD_CIDR" -j ACCEPT 2>/dev/null || true
  ip netns delete "$NETNS" 2>/dev/null || true
  rm -rf "/run/orb8-$CLUSTER" # the agent's socket directory (deploy)
}

# hierarchies lists where the cgroup hierarchies are mounted.
hierarchies() { awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts; }

# make_cgroup_parent makes b's cgroup root in every hierarchy: kubelet
# wants it to exist.
make_cgroup_parent() {
  [[ -n $CGROUP_PARENT ]] || return 0
  local h f
  while read -r h; do
    mkdir -p "$h$CGROUP_PARENT"
    # A new cpuset (v1) has no CPU nor memory node until given its parent's.
    for f in cpuset.cpus cpuset.mems; do
      [[ -e $h$CGROUP_PARENT/$f && -z $(cat "$h$CGROUP_PARENT/$f") ]] && cat "$h/$f" >"$h$CGROUP_PARENT/$f"
    done
  done < <(hierarchies)
  return 0
}

# --- images -------------------------------------------------------------------

build_base_images() {
  local dir=$CACHE/images
  mkdir -p "$dir"
  if [[ ! -s $dir/pause.tar ]]; then
    (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$dir/pause" ./hack/pause)
    go -C "$ROOT/hack/mkimage" run . -tag "$PAUSE_IMAGE" -out "$dir/pause.tar" -entrypoint /pause "$dir/pause=/pause"
  fi
  if [[ ! -s $dir/busybox.tar ]]; then
    local links=()
    for a in $(/bin/busybox --list); do links+=(-link "/bin/$a=busybox"); done
    go -C "$ROOT/hack/mkimage" run . -tag "$BUSYBOX_IMAGE" -out "$dir/busybox.tar" -entrypoint /bin/sh "${links[@]}" /bin/busybox=/bin/busybox
  fi
  for img in pause busybox; do
    ctr images import "$dir/$img.tar" >/dev/null
  done
}

# --- commands -----------------------------------------------------------------

node_ready() {
  [[ $(kubectl get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

start_apiserver() {
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:$ETCD_PORT \
    --bind-address=$NODE_IP --advertise-address=$NODE_IP --secure-port=$API_PORT \
    --cert-dir="$STATE/pki" --token-auth-file="$STATE/pki/tokens.csv" \
    --authorization-mode=Node,RBAC \
    --kubelet-preferred-address-types=InternalIP \
    --kubelet-client-certificate="$STATE/pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$STATE/pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$STATE/pki/ca.crt" \
    --service-cluster-ip-range=$SERVICE_CIDR \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$STATE/pki/sa.key" \
    --service-account-signing-key-file="$STATE/pki/sa.key" \
    --profiling=false --v=1
  wait_for kube-apiserver 120 kubectl get --raw /readyz
}

# The API server's kubelet client may use the whole kubelet API (logs,
# exec, port-forward, stats), as kubeadm's does; nothing else gets it.
allow_apiserver_to_kubelet() {
  kubectl apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: orb8:kube-apiserver-kubelet-client
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:kubelet-api-admin}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: kube-apiserver-kubelet-client}
EOF
}

cmd_up() {
  [[ $(id -u) == 0 ]] || die "run as root"
  ensure_packages
  ensure_binaries
  discard_stale_state
  write_config
  setup_network
  start etcd etcd --name orb8 --data-dir "$STATE/etcd" \
    --listen-client-urls http://127.0.0.1:$ETCD_PORT --advertise-client-urls http://127.0.0.1:$ETCD_PORT \
    --listen-peer-urls http://127.0.0.1:$((ETCD_PORT + 10)) --initial-advertise-peer-urls http://127.0.0.1:$((ETCD_PORT + 10)) \
    --initial-cluster orb8=http://127.0.0.1:$((ETCD_PORT + 10))
  wait_for etcd 60 innet curl -sf http://127.0.0.1:$ETCD_PORT/health
  start_apiserver
  allow_apiserver_to_kubelet
  start containerd containerd --config "$STATE/containerd/config.toml"
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$STATE/controller-manager.kubeconfig" --leader-elect=false \
    --bind-address=127.0.0.1 --use-service-account-credentials=true \
    --service-account-private-key-file="$STATE/pki/sa.key" --root-ca-file="$STATE/pki/apiserver.crt" \
    --service-cluster-ip-range=$SERVICE_CIDR --v=1
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig="$STATE/scheduler.kubeconfig" --leader-elect=false --bind-address=127.0.0.1 --v=1
  wait_for containerd 60 ctr version
  build_base_images
  make_cgroup_parent
  start kubelet "$BIN/kubelet" --config="$STATE/kubelet.yaml" --kubeconfig="$STATE/kubelet.kubeconfig" \
    --hostname-override="$NODE" --node-ip=$NODE_IP --root-dir="$STATE/kubelet" \
    --cert-dir="$STATE/kubelet/pki" --v=1
  start kube-proxy "$BIN/kube-proxy" --config="$STATE/kube-proxy.yaml" --v=1
  wait_for "node $NODE" 180 node_ready
  wait_for "default service account" 60 kubectl get serviceaccount default
  echo "KUBECONFIG=$KUBECONFIG_FILE"
}

cmd_deploy() {
  [[ -e $KUBECONFIG_FILE ]] || die "no cluster: run hack/cluster.sh up first"
  local dir=$STATE/images
  mkdir -p "$dir"
  # go-nvml's cgo prints pages of deprecation warnings: keep them in a log.
  if ! (cd "$ROOT" && go build -trimpath -o "$dir/orb8" ./cmd/orb8) >"$STATE/logs/build-orb8.log" 2>&1; then
    tail -20 "$STATE/logs/build-orb8.log" >&2
    die "go build ./cmd/orb8 failed (log: $STATE/logs/build-orb8.log)"
  fi
  go -C "$ROOT/hack/mkimage" run . -tag "$AGENT_IMAGE" -out "$dir/orb8.tar" -entrypoint /orb8 -libs "$dir/orb8=/orb8"
  ctr images import "$dir/orb8.tar" >/dev/null
  local extra=()
  # AppArmor where the node has it: the kubelet refuses a profile it cannot enforce.
  [[ $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null) == Y ]] && extra+=(--set appArmorProfile.type=RuntimeDefault)
  # The agents of a and b share the host's file system: b's API socket is its own.
  [[ -z $NETNS ]] || extra+=(--set "api.socket=/run/orb8-$CLUSTER/orb8.sock")
  (cd "$ROOT/hack/helmtemplate" && go run . -f "$ROOT/hack/cluster-values.yaml" "${extra[@]}" \
    --set image.repository="${AGENT_IMAGE%:*}" --set image.tag="${AGENT_IMAGE##*:}" "$ROOT/deploy/helm/orb8") >"$dir/orb8.yaml"
  kubectl apply -f "$dir/orb8.yaml" >/dev/null
  # A new image under the same tag needs new pods.
  kubectl -n orb8 delete pod -l app.kubernetes.io/name=orb8 --wait=false >/dev/null 2>&1 || true
  kubectl -n orb8 rollout status daemonset/orb8 --timeout=180s >&2
  echo "KUBECONFIG=$KUBECONFIG_FILE"
}

cmd_undeploy() {
  [[ -e $STATE/images/orb8.yaml ]] || return 0
  kubectl delete -f "$STATE/images/orb8.yaml" --ignore-not-found --wait >/dev/null
}

cmd_status() {
  local c
  for c in "${COMPONENTS[@]}"; do
    if running "$c"; then echo "$c: running (pid $(pidof_started "$c"))"; else echo "$c: stopped"; fi
  done
  if [[ -e $KUBECONFIG_FILE ]] && node_ready; then echo "node $NODE: Ready"; else echo "node $NODE: not ready"; fi
  [[ -e $KUBECONFIG_FILE ]] && echo "KUBECONFIG=$KUBECONFIG_FILE"
  return 0
}

cmd_down() {
  local c
  stop kube-proxy
  stop kubelet
  # Kill what runs in pods while the runtime still answers, then the rest.
  kill_pods
  for c in kube-scheduler kube-controller-manager containerd kube-apiserver etcd; do stop "$c"; done
  local shim
  for shim in $(pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" 2>/dev/null); do kill -KILL "$shim" 2>/dev/null || true; done
  kill_pods
  cleanup_cgroups
  cleanup_mounts
  if [[ -n $NETNS ]]; then
    leave_host
  else
    for ns in $(ip netns list 2>/dev/null | awk '/^cni-/{print $1}'); do ip netns delete "$ns"; done
    ip link delete "$BRIDGE" 2>/dev/null || true
    ip route delete "$SERVICE_CIDR" 2>/dev/null || true
    iptables -D FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -j DROP 2>/dev/null || true
    cleanup_iptables
  fi
  if [[ -e $STATE/sysctl.saved ]]; then
    while IFS='=' read -r k v; do [[ -n $v ]] && sysctl -qw "$k=$v" 2>/dev/null; done <"$STATE/sysctl.saved" || true
  fi
  rm -rf "$STATE"
  log "down"
}

# Every process in a pod cgroup (kubelet's cgroupfs driver puts them under kubepods).
kill_pods() {
  local f p
  for f in $(find /sys/fs/cgroup/unified$KUBEPODS /sys/fs/cgroup$KUBEPODS /sys/fs/cgroup/pids$KUBEPODS -name cgroup.procs 2>/dev/null); do
    # The file goes when its pod's cgroup does.
    while read -r p; do kill -KILL "$p" 2>/dev/null || true; done <"$f" 2>/dev/null || true
  done
}

# Removes the kubepods cgroups kubelet made, deepest first, in every
# hierarchy, and b's cgroup root.
cleanup_cgroups() {
  local h
  # Each hierarchy's own kubepods (a glob of /sys/fs/cgroup/*/kubepods
  # would also take b's, /sys/fs/cgroup/orb8-b/kubepods, on cgroup v2).
  while read -r h; do
    [[ -d $h$KUBEPODS ]] || continue
    find "$h$KUBEPODS" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [[ -z $CGROUP_PARENT ]] || rmdir "$h$CGROUP_PARENT" 2>/dev/null || true
  done < <(hierarchies)
}

# Unmounts what is under the state directory (not under b's, whose name
# starts with a's) and a's pods' network namespaces (b's are in its state).
cleanup_mounts() {
  local m
  for m in $(awk -v s="$STATE" 'index($2, s"/") == 1 || $2 == s {print $2}' /proc/self/mounts | sort -r); do umount -l "$m" 2>/dev/null || true; done
  [[ -n $NETNS ]] && return 0
  for m in $(awk '$2 ~ "^/run/netns/cni-" {print $2}' /proc/self/mounts); do umount -l "$m" 2>/dev/null || true; done
}

# Removes kube-proxy's chains and rules (all named KUBE-...), leaving other rules alone.
cleanup_iptables() {
  local ipt t
  for ipt in iptables ip6tables; do
    for t in filter nat mangle; do
      "$ipt-save" -t "$t" 2>/dev/null | grep -q KUBE- || continue
      "$ipt-save" -t "$t" | grep -v KUBE- | "$ipt-restore" 2>/dev/null || true
    done
  done
}

case ${1:-} in
up) cmd_up ;;
deploy) cmd_deploy ;;
undeploy) cmd_undeploy ;;
status) cmd_status ;;
down) cmd_down ;;
stop-apiserver) stop kube-apiserver ;;
start-apiserver) start_apiserver ;;
alias-image) [[ -n ${2:-} ]] || die "usage: $0 alias-image REF"; ctr images tag --force "$AGENT_IMAGE" "$2" >/dev/null ;;
*) echo "usage: $0 up|deploy|undeploy|status|down|stop-apiserver|start-apiserver|alias-image REF" >&2; exit 2 ;;
esac
