#!/usr/bin/env bash
# Installs the pinned LiveKit server used by the tests and the demo at
# .tools/bin/livekit-server, built from source with `go install` (no cgo, no Docker).
#
# Idempotent: when the binary already reports the pinned version nothing is done.
# The build uses Go's normal module and build caches (GOMODCACHE, GOCACHE), so a rebuild
# after `rm -rf .tools` takes seconds; a build from a cold cache downloads ~360 MB of
# modules from the Go module proxy and compiles for 1-3 minutes (84 s measured on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

# v1.13.0/v1.13.1 and later tags carrying `replace` directives cannot be `go install`ed;
# change the pin only to a tag that builds this way.
LIVEKIT_SERVER_VERSION="v1.13.5"
LIVEKIT_SERVER_MODULE="github.com/livekit/livekit-server/cmd/server"
REQUIRED_GO_MINOR=26 # the module's go.mod says `go 1.26`

TOOLS_BIN="$PWD/.tools/bin"
TARGET="$TOOLS_BIN/livekit-server"

# shellcheck source=lib/common.sh
source scripts/lib/common.sh

installed_version() {
  [[ -x "$TARGET" ]] && "$TARGET" --version 2>/dev/null | awk '{print $NF}'
}

if [[ "$(installed_version || true)" == "${LIVEKIT_SERVER_VERSION#v}" ]]; then
  say "livekit-server ${LIVEKIT_SERVER_VERSION} already installed at ${TARGET#"$PWD"/}"
  exit 0
fi

use_go "livekit-server ${LIVEKIT_SERVER_VERSION}" livekit-server 0

mkdir -p "$TOOLS_BIN"
exec 9>"$TOOLS_BIN/.livekit-server.lock"
flock 9 # a second concurrent `make` waits here instead of building twice
if [[ "$(installed_version || true)" == "${LIVEKIT_SERVER_VERSION#v}" ]]; then
  say "livekit-server ${LIVEKIT_SERVER_VERSION} installed by a concurrent run"
  exit 0
fi

build_dir="$(mktemp -d "$TOOLS_BIN/.build.XXXXXX")"
trap 'rm -rf "$build_dir"' EXIT

say "building livekit-server ${LIVEKIT_SERVER_VERSION} with $go_version \
(module cache: $(go env GOMODCACHE), build cache: $(go env GOCACHE))"
say "a cold build downloads ~360 MB of modules and compiles for 1-3 minutes; cached rebuilds take seconds"
started=$SECONDS
if ! CGO_ENABLED=0 GOBIN="$build_dir" go install "${LIVEKIT_SERVER_MODULE}@${LIVEKIT_SERVER_VERSION}"; then
  die "building livekit-server ${LIVEKIT_SERVER_VERSION} failed (see the Go output above). \
Check that the Go module proxy is reachable ('go env GOPROXY' = $(go env GOPROXY)) and that \
there is disk space for the caches, then run 'make livekit-server' again."
fi
mv -f "$build_dir/server" "$TARGET"
say "installed $("$TARGET" --version) at ${TARGET#"$PWD"/} in $((SECONDS - started)) s"
