"""`make push-images` really pushes: to a real registry (Debian's docker-registry, the
CNCF distribution server) on loopback, with buildah, the way the README's install
steps push to the registry the cluster pulls from."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from call_sim.stack import Component, free_port, http_ok

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_VERSION = yaml.safe_load(
    (REPO_ROOT / "deploy" / "helm" / "bright-smile" / "Chart.yaml").read_text()
)["appVersion"]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """A registry on loopback, plain HTTP, storing into tmp_path: its host:port."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is missing: run `make image-tools`", pytrace=False)
    address = f"127.0.0.1:{free_port()}"
    config = tmp_path / "registry.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "version": 0.1,
                "log": {"level": "warn"},
                "storage": {"filesystem": {"rootdirectory": str(tmp_path / "data")}},
                "http": {"addr": address},
            }
        )
    )
    process = Component(
        name="docker-registry",
        argv=[binary, "serve", str(config)],
        env=dict(os.environ),
        log_path=tmp_path / "registry.log",
        ready=http_ok(f"http://{address}/v2/"),
        address=address,
    )
    process.launch(timeout=30)
    yield address
    process.stop(timeout=10)


def test_make_push_images_pushes_to_the_registry(registry: str, tmp_path: Path) -> None:
    """The smallest image, through the Makefile: its layers come from the image test's
    cache, so this costs little more than the upload."""
    env = {**os.environ, "IMAGE_BUILDER": "buildah", "IMAGE_PUSH_TLS_VERIFY": "false"}
    log = tmp_path / "push.log"
    with log.open("w") as output:
        result = subprocess.run(
            ["make", "--no-print-directory", "push-images", f"IMAGE_REGISTRY={registry}/clinic",
             "IMAGES=scheduling-api", "LOCAL_BASE_IMAGES=1"],
            cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, timeout=1800,
            check=False,
        )  # fmt: skip
    assert result.returncode == 0, log.read_text()[-4000:]
    # The local tag for the throwaway registry is not worth keeping.
    untag = 'source scripts/lib/containers.sh && "${BUILDAH[@]}" rmi "$0" >/dev/null'
    reference = f"{registry}/clinic/scheduling-api:{APP_VERSION}"
    subprocess.run(["bash", "-c", untag, reference], cwd=REPO_ROOT, check=False, timeout=120)
    tags = httpx.get(f"http://{registry}/v2/clinic/scheduling-api/tags/list", timeout=10).json()
    assert tags["tags"] == [APP_VERSION]
    manifest = httpx.get(
        f"http://{registry}/v2/clinic/scheduling-api/manifests/{APP_VERSION}",
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, "
            "application/vnd.docker.distribution.manifest.v2+json"
        },
        timeout=10,
    )
    assert manifest.status_code == 200
    for layer in manifest.json()["layers"]:
        blob = httpx.head(f"http://{registry}/v2/clinic/scheduling-api/blobs/{layer['digest']}")
        assert blob.status_code == 200, layer
