#!/usr/bin/env bash
# Installs the pinned Kubernetes control plane that the chart's install test runs on:
# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl v1.35.4, the etcd
# that Kubernetes v1.35.4 depends on, and kwok (simulated nodes and pods), all built
# from Go modules into .tools/bin (no Docker, no release downloads).
#
# The pins live in tools/kube-cluster/go.mod and go.sum (a wrapper module: see its
# header) and in KWOK_VERSION below. Idempotent: when every binary is in place and the
# stamp matches the pins, nothing is done. Go's module and build caches make a rebuild
# after `rm -rf .tools` take well under a minute; a cold build downloads ~900 MB of
# modules and compiles for about 8 minutes on 2 idle cores (kube-apiserver and kwok are
# most of it; 26 min was measured on 2 cores shared with other builds).
set -euo pipefail
cd "$(dirname "$0")/.."

KUBE_VERSION="v1.35.4"
KWOK_VERSION="v0.8.0"
KWOK_MODULE="sigs.k8s.io/kwok/cmd/kwok"
WRAPPER="tools/kube-cluster"
REQUIRED_GO_MINOR=26 # kwok v0.8.0's go.mod says `go 1.26.0`
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok)
# kwok's own "fast" stages: nodes become Ready with a lease heartbeat; pods become
# Running/Ready once scheduled, Jobs' pods complete, deleted pods go at once.
KWOK_STAGES=(node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease
  pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete)

TOOLS_BIN="$PWD/.tools/bin"
STAMP="$TOOLS_BIN/.kube-cluster.stamp"
KWOK_CONFIG="$PWD/.tools/kwok/kwok.yaml"

# shellcheck source=lib/common.sh
source scripts/lib/common.sh

wanted_stamp() {
  { echo "$KUBE_VERSION $KWOK_VERSION"; cat "$WRAPPER/go.mod" "$WRAPPER/go.sum" "$WRAPPER/etcd/main.go"; } |
    sha256sum | cut -d' ' -f1
}

is_installed() {
  local binary
  for binary in "${BINARIES[@]}"; do [[ -x "$TOOLS_BIN/$binary" ]] || return 1; done
  [[ -s "$KWOK_CONFIG" ]] || return 1
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(wanted_stamp)" ]] || return 1
  [[ "$("$TOOLS_BIN/kube-apiserver" --version 2>/dev/null)" == "Kubernetes $KUBE_VERSION" ]]
}

if is_installed; then
  say "kube-apiserver, controller-manager, scheduler, kubectl $KUBE_VERSION, etcd, kwok $KWOK_VERSION already in ${TOOLS_BIN#"$PWD"/}"
  exit 0
fi

use_go "the test cluster (Kubernetes $KUBE_VERSION)" kube-cluster 0

mkdir -p "$TOOLS_BIN"
exec 9>"$TOOLS_BIN/.kube-cluster.lock"
if ! flock -n 9; then
  say "another run is building the test cluster's binaries; waiting for it"
  flock 9
fi
if is_installed; then
  say "test cluster binaries installed by a concurrent run"
  exit 0
fi

build_dir="$(mktemp -d "$TOOLS_BIN/.build.XXXXXX")"
trap 'rm -rf "$build_dir"' EXIT
export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
fail() {
  die "building $1 failed (see the Go output above). Check that the Go module proxy is \
reachable ('go env GOPROXY' = $(go env GOPROXY)) and that there is disk space for the caches \
($(go env GOMODCACHE), $(go env GOCACHE)), then run 'make kube-cluster' again."
}

say "building Kubernetes $KUBE_VERSION (apiserver, controller-manager, scheduler, kubectl) and etcd with $go_version"
say "a cold build downloads ~900 MB of modules and compiles for about 8 minutes on 2 idle cores (far longer on a busy machine); cached rebuilds take seconds"
started=$SECONDS
kube_minor="$(cut -d. -f2 <<<"$KUBE_VERSION")"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$kube_minor"
for package in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  say "  $package ($((SECONDS - started)) s so far)"
  go build -C "$WRAPPER" -ldflags "$ldflags" -o "$build_dir/$package" "k8s.io/kubernetes/cmd/$package" ||
    fail "$package"
done
say "  etcd ($((SECONDS - started)) s so far)"
go build -C "$WRAPPER" -ldflags "-s -w" -o "$build_dir/etcd" ./etcd || fail etcd
say "  kwok $KWOK_VERSION ($((SECONDS - started)) s so far)"
GOFLAGS="-buildvcs=false" GOBIN="$build_dir" go install -ldflags "-s -w" "$KWOK_MODULE@$KWOK_VERSION" || fail kwok

kwok_dir="$(GOFLAGS=-buildvcs=false go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
[[ -d "$kwok_dir/kustomize/stage" ]] || fail "kwok's stage files (module sigs.k8s.io/kwok@$KWOK_VERSION)"
mkdir -p "$(dirname "$KWOK_CONFIG")"
{
  echo "# kwok $KWOK_VERSION's stages, copied from its module by scripts/install-kube-cluster.sh"
  for stage in "${KWOK_STAGES[@]}"; do
    echo "---"
    cat "$kwok_dir/kustomize/stage/$stage.yaml"
  done
} >"$build_dir/kwok.yaml"

for binary in "${BINARIES[@]}"; do mv -f "$build_dir/$binary" "$TOOLS_BIN/$binary"; done
mv -f "$build_dir/kwok.yaml" "$KWOK_CONFIG"
wanted_stamp >"$STAMP"
is_installed || die "the built kube-apiserver does not report Kubernetes $KUBE_VERSION"
say "installed ${BINARIES[*]} in ${TOOLS_BIN#"$PWD"/} in $((SECONDS - started)) s"
