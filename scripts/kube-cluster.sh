#!/usr/bin/env bash
# Runs a real Kubernetes v1.35 control plane on loopback, with simulated nodes, until
# it is stopped (Ctrl-C or SIGTERM), for the chart's install test and for trying the
# chart by hand:
#
#   scripts/kube-cluster.sh <workdir>      # then: export KUBECONFIG=<workdir>/kubeconfig
#
# etcd, kube-apiserver (service-account signing key, a static admin token, RBAC, the
# default admission plugins with Pod Security; no endpoint for the `kubernetes` Service,
# which may not point at loopback), kube-controller-manager and
# kube-scheduler are the real programs, built by `make kube-cluster`. There is no
# kubelet: kwok plays the nodes and marks scheduled pods Running and Ready without
# running their containers. The script also installs the Prometheus Operator CRDs
# (tests/fixtures/prometheus-operator-crds), KUBE_CLUSTER_NODES nodes (default 3) and
# KUBE_CLUSTER_VOLUMES unclaimed 10 Gi PersistentVolumes (default 4). Everything listens
# on free ports of 127.0.0.1; logs go to <workdir>/logs. <workdir>/ready appears once
# the cluster can take installs.
set -euo pipefail
cd "$(dirname "$0")/.."

REPO="$PWD"
BIN="$REPO/.tools/bin"
CRDS="$REPO/tests/fixtures/prometheus-operator-crds"
KWOK_CONFIG="$REPO/.tools/kwok/kwok.yaml"
NODES="${KUBE_CLUSTER_NODES:-3}"
VOLUMES="${KUBE_CLUSTER_VOLUMES:-4}"
READY_TIMEOUT="${KUBE_CLUSTER_READY_TIMEOUT:-180}"

# shellcheck source=lib/common.sh
source scripts/lib/common.sh

[[ $# -eq 1 ]] || die "usage: $0 <workdir>   (the kubeconfig is written to <workdir>/kubeconfig)"
for binary in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
  [[ -x "$BIN/$binary" ]] || die "$BIN/$binary is missing: run 'make kube-cluster' first"
done
[[ -s "$KWOK_CONFIG" ]] || die "$KWOK_CONFIG is missing: run 'make kube-cluster' first"
command -v openssl >/dev/null || die "openssl not found: install it (apt-get install openssl)"

WORK="$(mkdir -p "$1" && cd "$1" && pwd)"
LOGS="$WORK/logs"
rm -rf "$WORK/etcd" "$WORK/ready"
mkdir -p "$LOGS" "$WORK/pki"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pids=()
stop_all() {
  trap - EXIT INT TERM
  local index
  for ((index = ${#pids[@]} - 1; index >= 0; index--)); do
    kill "${pids[index]}" 2>/dev/null || true
    wait "${pids[index]}" 2>/dev/null || true
  done
  rm -f "$WORK/ready"
}
trap stop_all EXIT
trap 'stop_all; exit 0' INT TERM

start() { # start <name> <command...>: runs in the background, output in logs/<name>.log
  local name="$1"
  shift
  "$@" >"$LOGS/$name.log" 2>&1 &
  pids+=($!)
}

wait_for() { # wait_for <what> <command...>: retry until it succeeds or READY_TIMEOUT passes
  local what="$1" deadline=$((SECONDS + READY_TIMEOUT)) pid
  shift
  until "$@" >/dev/null 2>&1; do
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null || die "a cluster process exited while waiting for $what; see $LOGS/*.log"
    done
    ((SECONDS < deadline)) || die "$what not ready after ${READY_TIMEOUT}s; see $LOGS/*.log"
    sleep 0.5
  done
}

# Credentials: the service-account signing key and a static admin token.
[[ -f "$WORK/pki/sa.key" ]] || openssl genrsa -out "$WORK/pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$WORK/pki/sa.key" -pubout -out "$WORK/pki/sa.pub" 2>/dev/null
ADMIN_TOKEN="$(openssl rand -hex 24)"
echo "$ADMIN_TOKEN,admin,admin,system:masters" >"$WORK/pki/tokens.csv"
chmod 600 "$WORK/pki/tokens.csv" "$WORK/pki/sa.key"

ETCD_PORT="$(free_port)"
ETCD_PEER_PORT="$(free_port)"
API_PORT="$(free_port)"

say "starting etcd on 127.0.0.1:$ETCD_PORT"
start etcd "$BIN/etcd" --name test --data-dir "$WORK/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "test=http://127.0.0.1:$ETCD_PEER_PORT" \
  --unsafe-no-fsync --log-level warn

say "starting kube-apiserver $("$BIN/kube-apiserver" --version | awk '{print $2}') on https://127.0.0.1:$API_PORT"
start kube-apiserver "$BIN/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
  --cert-dir "$WORK/pki" \
  --token-auth-file "$WORK/pki/tokens.csv" \
  --authorization-mode RBAC \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$WORK/pki/sa.pub" \
  --service-account-signing-key-file "$WORK/pki/sa.key" \
  --service-cluster-ip-range 10.96.0.0/16 \
  --endpoint-reconciler-type none \
  --enable-priority-and-fairness=false

KUBECONFIG_FILE="$WORK/kubeconfig"
cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: test
    cluster:
      server: https://127.0.0.1:$API_PORT
      certificate-authority: $WORK/pki/apiserver.crt
users:
  - name: admin
    user:
      token: $ADMIN_TOKEN
contexts:
  - name: test
    context: {cluster: test, user: admin}
current-context: test
EOF
chmod 600 "$KUBECONFIG_FILE"
export KUBECONFIG="$KUBECONFIG_FILE"
kubectl() { "$BIN/kubectl" --request-timeout=20s "$@"; }

wait_for "kube-apiserver" kubectl get --raw /readyz

say "starting kube-controller-manager, kube-scheduler and kwok"
start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig "$KUBECONFIG_FILE" \
  --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false \
  --service-account-private-key-file "$WORK/pki/sa.key" \
  --root-ca-file "$WORK/pki/apiserver.crt" \
  --controllers '*,-nodeipam,-service-lb-controller,-route'
start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$KUBECONFIG_FILE" \
  --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false
start kwok "$BIN/kwok" --kubeconfig "$KUBECONFIG_FILE" --config "$KWOK_CONFIG" \
  --node-lease-duration-seconds 40 \
  --manage-all-nodes=false \
  --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
  --cidr 10.244.0.0/16 --node-ip 127.0.0.1 \
  --server-address "127.0.0.1:$(free_port)"

say "installing the Prometheus Operator CRDs, $NODES simulated nodes and $VOLUMES volumes"
kubectl apply --server-side -f "$CRDS/monitoring.coreos.com_servicemonitors.yaml" \
  -f "$CRDS/monitoring.coreos.com_prometheusrules.yaml" >/dev/null
for ((index = 0; index < NODES; index++)); do
  cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: sim-node-$index
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels:
    kubernetes.io/hostname: sim-node-$index
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/zone: zone-$((index % 3))
    type: kwok
status:
  allocatable: {cpu: "32", memory: 128Gi, pods: "110", ephemeral-storage: 200Gi}
  capacity: {cpu: "32", memory: 128Gi, pods: "110", ephemeral-storage: 200Gi}
---
EOF
done | kubectl apply -f - >/dev/null
for ((index = 0; index < VOLUMES; index++)); do
  cat <<EOF
apiVersion: v1
kind: PersistentVolume
metadata: {name: sim-volume-$index}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /var/lib/sim-volume-$index}
---
EOF
done | kubectl apply -f - >/dev/null

wait_for "the CRDs" kubectl wait --for condition=Established --timeout 5s \
  crd/servicemonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com
wait_for "the simulated nodes" kubectl wait --for condition=Ready --timeout 5s nodes --all
wait_for "the default service account" kubectl -n default get serviceaccount default

touch "$WORK/ready"
say "cluster ready: export KUBECONFIG=$KUBECONFIG_FILE (Ctrl-C stops it; logs in $LOGS)"
wait -n "${pids[@]}" || true
die "a cluster process exited; see $LOGS/*.log"
