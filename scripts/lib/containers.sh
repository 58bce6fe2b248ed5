# shellcheck shell=bash
# buildah and podman as the project calls them, sourced by the image scripts. Measured
# on our machines: the kernel's overlay driver works and is many times faster and
# smaller than vfs (which copies every layer whole); vfs is the fallback where overlayfs
# is missing. runc with cgroupfs, because crun refuses hybrid cgroups.
# IMAGE_STORAGE_DRIVER overrides the choice; it must match the store's existing driver.
if [[ -z "${IMAGE_STORAGE_DRIVER:-}" ]]; then
  if grep -qw overlay /proc/filesystems 2>/dev/null; then
    IMAGE_STORAGE_DRIVER=overlay
  else
    IMAGE_STORAGE_DRIVER=vfs
  fi
fi
export IMAGE_STORAGE_DRIVER
BUILDAH=(buildah --storage-driver "$IMAGE_STORAGE_DRIVER")
PODMAN=(podman --storage-driver "$IMAGE_STORAGE_DRIVER" --cgroup-manager cgroupfs --runtime runc --events-backend file)
