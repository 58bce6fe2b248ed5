# shellcheck shell=bash
# Sourced by the scripts in this folder (after they cd to the repository root).

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# use_go <what it builds> <make target> <toolchain patch>: puts Go on PATH, dies saying
# what to do without it, and lets an older Go fetch go1.$REQUIRED_GO_MINOR (as a module,
# through the Go proxy). Sets go_version.
use_go() {
  if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
    export PATH="/usr/local/go/bin:$PATH" # the official tarball's location, often not on PATH
  fi
  command -v go >/dev/null || die "Go is not installed, and it is needed to build $1. \
Install Go 1.${REQUIRED_GO_MINOR} or newer (https://go.dev/dl, or your package manager), \
make sure 'go' is on PATH, then run 'make $2' again."
  go_version="$(go env GOVERSION)" # e.g. go1.26.8
  local minor
  minor="$(sed -E 's/^go1\.([0-9]+).*/\1/' <<<"$go_version")"
  if [[ "$minor" =~ ^[0-9]+$ ]] && ((minor < REQUIRED_GO_MINOR)); then
    say "$go_version is older than go1.${REQUIRED_GO_MINOR}: letting Go download the toolchain it needs"
    export GOTOOLCHAIN="go1.${REQUIRED_GO_MINOR}.$3+auto"
  fi
}
