#!/usr/bin/env bash
# Installs the pinned Prometheus server and promtool used by the monitoring tests at
# .tools/bin/prometheus and .tools/bin/promtool, built from source with `go install`
# (no cgo, no Docker; no release download is reachable from our machines).
#
# Idempotent: when both binaries report the pinned version nothing is done. Built with the
# `remove_all_sd` tag, which leaves out the cloud service discoveries (AWS, Azure,
# Kubernetes, ...): the tests scrape static targets. The build uses Go's normal module and
# build caches (GOMODCACHE, GOCACHE): from cold caches it downloads ~1 GB of modules and
# compiles for 4-11 minutes on 2 cores (235 s of CPU; 11 min measured on a busy machine);
# a rebuild after `rm -rf .tools` takes about 20 s.
set -euo pipefail
cd "$(dirname "$0")/.."

# Prometheus 3.16.0, whose Go module is tagged v0.316.0 (3.x releases are v0.3xx.y).
PROMETHEUS_VERSION="v0.316.0"
PROMETHEUS_RELEASE="3.16.0"
PROMETHEUS_MODULE="github.com/prometheus/prometheus"
REQUIRED_GO_MINOR=26 # the module's go.mod says `go 1.26.7`

TOOLS_BIN="$PWD/.tools/bin"
BINARIES=(prometheus promtool)

# shellcheck source=lib/common.sh
source scripts/lib/common.sh

# The version line the binary prints, e.g. `prometheus, version 3.16.0 (branch: , revision:
# v0.316.0)`; `go install` stamps no version, so the build below sets it with -ldflags.
installed_version() {
  [[ -x "$1" ]] && "$1" --version 2>/dev/null | sed -nE '1s/.*revision: ([^)]*)\).*/\1/p'
}

all_installed() {
  local binary
  for binary in "${BINARIES[@]}"; do
    [[ "$(installed_version "$TOOLS_BIN/$binary" || true)" == "$PROMETHEUS_VERSION" ]] || return 1
  done
}

if all_installed; then
  say "prometheus and promtool ${PROMETHEUS_VERSION} already installed in ${TOOLS_BIN#"$PWD"/}"
  exit 0
fi

use_go "prometheus and promtool ${PROMETHEUS_VERSION}" prometheus 7

mkdir -p "$TOOLS_BIN"
exec 9>"$TOOLS_BIN/.prometheus.lock"
flock 9 # a second concurrent `make` waits here instead of building twice
if all_installed; then
  say "prometheus and promtool ${PROMETHEUS_VERSION} installed by a concurrent run"
  exit 0
fi

build_dir="$(mktemp -d "$TOOLS_BIN/.build.XXXXXX")"
trap 'rm -rf "$build_dir"' EXIT

say "building prometheus and promtool ${PROMETHEUS_VERSION} with $go_version \
(module cache: $(go env GOMODCACHE), build cache: $(go env GOCACHE))"
say "a cold build downloads ~1 GB of modules and compiles for 4-11 minutes; cached rebuilds take seconds"
started=$SECONDS
packages=()
for binary in "${BINARIES[@]}"; do
  packages+=("${PROMETHEUS_MODULE}/cmd/${binary}@${PROMETHEUS_VERSION}")
done
version_flags="-X github.com/prometheus/common/version.Version=${PROMETHEUS_RELEASE}"
version_flags+=" -X github.com/prometheus/common/version.Revision=${PROMETHEUS_VERSION}"
if ! CGO_ENABLED=0 GOBIN="$build_dir" go install -tags remove_all_sd -ldflags "$version_flags" \
  "${packages[@]}"; then
  die "building prometheus and promtool ${PROMETHEUS_VERSION} failed (see the Go output above). \
Check that the Go module proxy is reachable ('go env GOPROXY' = $(go env GOPROXY)) and that \
there is disk space for the caches, then run 'make prometheus' again."
fi
for binary in "${BINARIES[@]}"; do
  mv -f "$build_dir/$binary" "$TOOLS_BIN/$binary"
done
all_installed || die "the built binaries do not report revision ${PROMETHEUS_VERSION} (--version); \
remove ${TOOLS_BIN#"$PWD"/}/prometheus and promtool and run 'make prometheus' again."
say "installed prometheus and promtool ${PROMETHEUS_VERSION} in ${TOOLS_BIN#"$PWD"/} \
in $((SECONDS - started)) s"
