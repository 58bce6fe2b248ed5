#!/usr/bin/env bash
# Builds the local stand-in base images for machines that cannot pull the official
# python/node images (air-gapped builds, or registries of container images blocked):
#
#   localhost/bright-smile/python-base:bookworm   Debian 12 minbase + python3 (3.11),
#                                                  venv, ca-certificates (debootstrap)
#   localhost/bright-smile/node-base:bookworm     the above + Debian's nodejs and a
#                                                  pinned npm from the npm registry
#
# Everything comes from Debian's packages and the npm registry. Idempotent and cached:
# an image whose recipe label (suite, packages, npm version) matches is kept, the rootfs
# as a tarball under .tools/cache/, so a wiped image store rebuilds without debootstrap.
# Pass the images to a build with PYTHON_IMAGE=... NODE_IMAGE=... (scripts/build-images.sh
# does when LOCAL_BASE_IMAGES=1).
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE="bookworm"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
NPM_VERSION="10.9.4"
PYTHON_BASE="localhost/bright-smile/python-base:$SUITE"
NODE_BASE="localhost/bright-smile/node-base:$SUITE"
CACHE_DIR=".tools/cache/base-images"
# shellcheck source=lib/containers.sh
source scripts/lib/containers.sh

# shellcheck source=lib/common.sh
source scripts/lib/common.sh

for tool in debootstrap buildah podman; do
  command -v "$tool" >/dev/null || die "$tool not found: run 'make image-tools' (installs buildah, podman, debootstrap and runc through apt)."
done
[[ $(id -u) -eq 0 ]] || die "debootstrap and buildah's vfs store need root here: run as root."

PACKAGES="python3,python3-venv,python-is-python3,ca-certificates"
# What the images are made of; a change rebuilds both (and every image layer above them).
# Bump RECIPE_VERSION when the way they are made changes.
RECIPE_VERSION=1
RECIPE="$(echo "$SUITE $PACKAGES $NPM_VERSION $RECIPE_VERSION" | sha256sum | cut -c1-16)"

label_of() {
  "${BUILDAH[@]}" inspect --type image --format '{{index .ImageAnnotations "org.bright-smile.recipe"}}{{index .OCIv1.Config.Labels "org.bright-smile.recipe"}}' "$1" 2>/dev/null || true
}

image_is_current() { [[ "$(label_of "$1")" == "$RECIPE" ]]; }

build_python_base() {
  local tarball="$CACHE_DIR/python-base-$SUITE-$RECIPE.tar"
  if [[ ! -s "$tarball" ]]; then
    local rootfs
    rootfs="$(mktemp -d /var/tmp/bright-smile-rootfs.XXXXXX)"
    trap 'rm -rf "$rootfs"; trap - RETURN' RETURN
    say "debootstrap --variant=minbase $SUITE into $rootfs (about 1-2 min, once)"
    debootstrap --variant=minbase \
      --include="$PACKAGES" \
      "$SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$rootfs.log" 2>&1 ||
      die "debootstrap failed (log: $rootfs.log). Is $DEBIAN_MIRROR reachable? Set DEBIAN_MIRROR to a Debian mirror you can reach."
    rm -f "$rootfs.log"
    # Like the official slim images: no package caches, apt lists fetched on demand.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/tmp/*
    chmod 0755 "$rootfs" # mktemp made it 0700: the image's / would shut out non-root users
    mkdir -p "$CACHE_DIR"
    rm -f "$CACHE_DIR"/python-base-"$SUITE"-*.tar
    tar --numeric-owner -C "$rootfs" -cf "$tarball.partial" .
    mv "$tarball.partial" "$tarball"
  fi
  say "importing $PYTHON_BASE"
  "${PODMAN[@]}" import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "LABEL org.bright-smile.recipe=$RECIPE" \
    --change 'CMD ["python3"]' \
    "$tarball" "$PYTHON_BASE" >/dev/null
}

build_node_base() {
  local workdir
  workdir="$(mktemp -d /var/tmp/bright-smile-node.XXXXXX)"
  trap 'rm -rf "$workdir"; [[ -z "${container:-}" ]] || "${BUILDAH[@]}" rm "$container" >/dev/null 2>&1; trap - RETURN' RETURN
  say "fetching npm $NPM_VERSION from the npm registry"
  (cd "$workdir" && npm pack --silent "npm@$NPM_VERSION" >/dev/null) ||
    die "npm pack npm@$NPM_VERSION failed: is the npm registry reachable?"
  mkdir "$workdir/npm"
  tar -xzf "$workdir/npm-$NPM_VERSION.tgz" -C "$workdir/npm" --strip-components=1
  say "building $NODE_BASE (Debian's nodejs + npm $NPM_VERSION)"
  container="$("${BUILDAH[@]}" from --pull-never "$PYTHON_BASE")"
  "${BUILDAH[@]}" run --isolation chroot "$container" -- sh -c \
    'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs >/dev/null && rm -rf /var/lib/apt/lists/*'
  "${BUILDAH[@]}" copy "$container" "$workdir/npm" /usr/lib/node_modules/npm >/dev/null
  "${BUILDAH[@]}" run --isolation chroot "$container" -- sh -c \
    'ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/bin/npm && ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/bin/npx && npm --version >/dev/null'
  "${BUILDAH[@]}" config --label "org.bright-smile.recipe=$RECIPE" --cmd node "$container"
  "${BUILDAH[@]}" commit --quiet --rm "$container" "$NODE_BASE" >/dev/null
  container=""
}

if image_is_current "$PYTHON_BASE"; then
  echo "$PYTHON_BASE is up to date"
else
  build_python_base
fi
if image_is_current "$NODE_BASE"; then
  echo "$NODE_BASE is up to date"
else
  build_node_base
fi
