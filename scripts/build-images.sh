#!/usr/bin/env bash
# Builds the service images with Docker (when a Docker engine answers) or buildah, and
# pushes them when IMAGE_PUSH=1. `make images` / `make push-images` call it.
#
# Settings (environment):
#   IMAGE_REGISTRY    registry and path the images are named under (ghcr.io/bright-smile)
#   IMAGE_TAG         tag (the Makefile passes the chart's appVersion)
#   IMAGES            which services (default: all four)
#   IMAGE_PUSH=1      push each image after building it (log in first: docker/buildah login)
#   IMAGE_PUSH_TLS_VERIFY=false  push to a registry on plain HTTP (buildah; e.g. a local one)
#   IMAGE_PLATFORM    e.g. linux/arm64, or linux/amd64,linux/arm64 for a multi-platform
#                     manifest (needs IMAGE_PUSH=1; other CPUs need qemu-user-static)
#   IMAGE_BUILDER     auto (default), docker or buildah
#   PYTHON_IMAGE, NODE_IMAGE   other base images than services/Dockerfile's official defaults
#   LOCAL_BASE_IMAGES=1        build the debootstrap stand-in bases and use them
#                              (scripts/build-base-images.sh; for machines that cannot
#                              pull the official images)
#   PIP_CA_BUNDLE     extra CA certificates (PEM) for pip and npm inside the build, for a
#                     TLS-intercepting proxy; default: the host pip's PIP_CERT, if set
#   IMAGE_STORAGE_DRIVER  buildah's storage driver (default overlay, else vfs)
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE_REGISTRY="${IMAGE_REGISTRY:-ghcr.io/bright-smile}"
IMAGE_TAG="${IMAGE_TAG:?IMAGE_TAG is not set (make images sets it to the chart appVersion)}"
IMAGES="${IMAGES:-scheduling-api token-service agent-worker provider-sim}"
IMAGE_PUSH="${IMAGE_PUSH:-0}"
IMAGE_PLATFORM="${IMAGE_PLATFORM:-}"
IMAGE_BUILDER="${IMAGE_BUILDER:-auto}"
PIP_CA_BUNDLE="${PIP_CA_BUNDLE-${PIP_CERT:-}}"

# shellcheck source=lib/common.sh
source scripts/lib/common.sh

if [[ "$IMAGE_BUILDER" == auto ]]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    IMAGE_BUILDER=docker
  elif command -v buildah >/dev/null; then
    IMAGE_BUILDER=buildah
  else
    die "neither a Docker engine nor buildah is available: start Docker, or run 'make image-tools' (installs buildah through apt)."
  fi
fi
# shellcheck source=lib/containers.sh
source scripts/lib/containers.sh

build_args=()
if [[ "${LOCAL_BASE_IMAGES:-0}" == 1 ]]; then
  [[ "$IMAGE_BUILDER" == buildah ]] || die "LOCAL_BASE_IMAGES=1 needs buildah (the stand-in bases live in its image store)."
  scripts/build-base-images.sh
  PYTHON_IMAGE="${PYTHON_IMAGE:-localhost/bright-smile/python-base:bookworm}"
  NODE_IMAGE="${NODE_IMAGE:-localhost/bright-smile/node-base:bookworm}"
  build_args+=(--pull-never)
fi
[[ -n "${PYTHON_IMAGE:-}" ]] && build_args+=(--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")
[[ -n "${NODE_IMAGE:-}" ]] && build_args+=(--build-arg "NODE_IMAGE=$NODE_IMAGE")
if [[ -n "$PIP_CA_BUNDLE" ]]; then
  [[ -s "$PIP_CA_BUNDLE" ]] || die "PIP_CA_BUNDLE=$PIP_CA_BUNDLE is not a readable file of CA certificates."
  build_args+=(--secret "id=pip-ca,src=$PIP_CA_BUNDLE")
fi
push_args=(--tls-verify="${IMAGE_PUSH_TLS_VERIFY:-true}")
multi_platform=0
if [[ -n "$IMAGE_PLATFORM" ]]; then
  build_args+=(--platform "$IMAGE_PLATFORM")
  if [[ "$IMAGE_PLATFORM" == *,* ]]; then
    multi_platform=1
    [[ "$IMAGE_PUSH" == 1 ]] || die "a multi-platform build ($IMAGE_PLATFORM) can only be pushed: set IMAGE_PUSH=1."
  fi
fi

# One Dockerfile for every service: SERVICE picks its folder, the target its final stage.
dockerfile=services/Dockerfile

build_with_docker() {
  local image=$1 ref=$2
  local args=("${build_args[@]}" -f "$dockerfile" --build-arg "SERVICE=$image" --target "$image")
  if ((multi_platform)); then
    DOCKER_BUILDKIT=1 docker buildx build "${args[@]}" -t "$ref" --push .
    return
  fi
  DOCKER_BUILDKIT=1 docker build "${args[@]}" -t "$ref" . || return
  if [[ "$IMAGE_PUSH" == 1 ]]; then docker push "$ref" || return; fi
}

build_with_buildah() {
  local image=$1 ref=$2
  local args=(--isolation chroot --layers "${build_args[@]}" -f "$dockerfile" --build-arg "SERVICE=$image" --target "$image")
  if ((multi_platform)); then
    "${BUILDAH[@]}" manifest rm "$ref" >/dev/null 2>&1 || true
    "${BUILDAH[@]}" bud "${args[@]}" --manifest "$ref" . || return
    "${BUILDAH[@]}" manifest push --all "${push_args[@]}" "$ref" "docker://$ref"
    return
  fi
  "${BUILDAH[@]}" bud "${args[@]}" -t "$ref" . || return
  if [[ "$IMAGE_PUSH" == 1 ]]; then "${BUILDAH[@]}" push "${push_args[@]}" "$ref" "docker://$ref" || return; fi
}

# Called as `build_with_... || die`, where `set -e` is off: each step returns its failure.
for image in $IMAGES; do
  [[ -f "services/$image/pyproject.toml" ]] && grep -q "^FROM .* AS $image\$" "$dockerfile" \
    || die "no service $image with a stage in $dockerfile: IMAGES lists services by folder name ($(cd services && echo */ | tr -d /))."
  ref="$IMAGE_REGISTRY/$image:$IMAGE_TAG"
  say "$ref ($IMAGE_BUILDER${IMAGE_PLATFORM:+, $IMAGE_PLATFORM}${PYTHON_IMAGE:+, base $PYTHON_IMAGE}$([[ "$IMAGE_PUSH" == 1 ]] && echo ', push'))"
  "build_with_$IMAGE_BUILDER" "$image" "$ref" || die "building $ref failed (output above)."
done
