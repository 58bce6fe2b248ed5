#!/usr/bin/env bash
# Installs what builds and runs the images without a Docker engine, from Debian's
# packages: buildah (build), podman (run), debootstrap (the stand-in base images), runc
# (the runtime podman is pointed at: crun refuses hybrid cgroups) and docker-registry
# (a local registry the push test pushes to; its service is not started). Idempotent.
set -euo pipefail

# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

packages=(buildah podman debootstrap runc docker-registry)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
((${#missing[@]})) || exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  printf '\033[1m==> installing %s\033[0m\n' "${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  die "missing packages: ${missing[*]}. Install them (e.g. 'sudo apt-get install ${missing[*]}') and try again."
fi
