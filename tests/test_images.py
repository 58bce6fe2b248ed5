"""The service images, built and run here without a Docker engine (buildah, podman).

The images are built the way `make images LOCAL_BASE_IMAGES=1` builds them (on the
debootstrap stand-in bases; layers cached in the local image store), then each runs
under the chart's own restrictions, read from the rendered chart rather than restated:
its user, read-only root, dropped capabilities, no privilege escalation, a tmpfs where
it mounts an emptyDir, its ConfigMaps, its environment. Only what a pod gets from the
cluster is swapped for loopback: addresses, ports (several test sessions share this
machine) and the Secrets' values.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
CHART = REPO_ROOT / "deploy" / "helm" / "bright-smile"
HELM = REPO_ROOT / ".tools" / "bin" / "helm"
RELEASE = "bright-smile"
REGISTRY = "localhost/bright-smile-test"
TAG = "test"
IMAGES = ("scheduling-api", "token-service", "agent-worker")
AGENT_NAME = "image-test-receptionist"
SECRETS = {
    "SCHEDULING_API_TOKENS": "image-test-agent-token,image-test-office-token",
    "SCHEDULING_API_TOKEN": "image-test-agent-token",
    "SLOT_ID_SECRET": "image-test-slot-secret-0123456789abcdef",
    "DEEPGRAM_API_KEY": "image-test-deepgram",
    "OPENAI_API_KEY": "image-test-openai",
    "CARTESIA_API_KEY": "image-test-cartesia",
}
STARTUP_SECONDS = 180  # generous: the machine is shared and the worker loads models


# --- podman as the project runs it (scripts/lib/containers.sh) -------------------------


def storage_driver() -> str:
    if driver := os.environ.get("IMAGE_STORAGE_DRIVER"):
        return driver
    filesystems = Path("/proc/filesystems").read_text()
    return "overlay" if re.search(r"\boverlay\b", filesystems) else "vfs"


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    command = [
        "podman", "--storage-driver", storage_driver(), "--cgroup-manager", "cgroupfs",
        "--runtime", "runc", "--events-backend", "file", *args,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(command[:12])} ... failed:\n{result.stderr}", pytrace=False)
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the chart, rendered -------------------------------------------------------------------


def render_chart() -> list[dict[str, Any]]:
    if not HELM.exists():
        pytest.fail("helm is missing: run `make helm`", pytrace=False)
    result = subprocess.run(
        [str(HELM), "template", RELEASE, str(CHART), "--set", "redis.auth.enabled=false",
         "--set", f"agentName={AGENT_NAME}"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@dataclass
class PodSpec:
    """One container of a rendered workload, with what its pod gives it."""

    workload: dict[str, Any]
    container: dict[str, Any]
    config_maps: dict[str, dict[str, str]]

    @property
    def pod(self) -> dict[str, Any]:
        if self.workload["kind"] == "Pod":
            return dict(self.workload["spec"])
        return dict(self.workload["spec"]["template"]["spec"])

    def chart_env(self, secrets: dict[str, str]) -> dict[str, str]:
        """The container's environment: literal values with Kubernetes' $(VAR)
        expansion, `secrets`' value for each Secret key, 1 for resource fields."""
        env: dict[str, str] = {}
        for entry in self.container.get("env", []):
            name = entry["name"]
            if "value" in entry:
                env[name] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), entry["value"])
            elif "secretKeyRef" in entry["valueFrom"]:
                ref = entry["valueFrom"]["secretKeyRef"]
                if ref["key"] in secrets:
                    env[name] = secrets[ref["key"]]
                else:
                    assert ref.get("optional"), f"no test value for Secret key {ref['key']}"
            elif "resourceFieldRef" in entry["valueFrom"]:
                env[name] = "1"
        return env

    def restrictions(self, workdir: Path) -> list[str]:
        """podman options enforcing the pod's and container's security context, and the
        volume mounts: emptyDir as tmpfs, ConfigMaps as read-only bind mounts."""
        security = {**self.pod.get("securityContext", {}), **self.container["securityContext"]}
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] != 0
        options = ["--user", f"{security['runAsUser']}:{security['runAsGroup']}"]
        if security.get("readOnlyRootFilesystem"):
            options += ["--read-only", "--read-only-tmpfs=false"]
        for capability in security.get("capabilities", {}).get("drop", []):
            options += ["--cap-drop", capability]
        if security.get("allowPrivilegeEscalation") is False:
            options += ["--security-opt", "no-new-privileges"]
        volumes = {volume["name"]: volume for volume in self.pod.get("volumes", [])}
        for mount in self.container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if "emptyDir" in volume:
                size = volume["emptyDir"].get("sizeLimit", "64Mi")
                size = size.replace("Mi", "m").replace("Gi", "g")
                options += [
                    "--tmpfs",
                    f"{mount['mountPath']}:rw,nosuid,nodev,size={size},mode=1777",
                ]
            elif "configMap" in volume:
                directory = workdir / mount["name"]
                directory.mkdir(exist_ok=True)
                for filename, content in self.config_maps[volume["configMap"]["name"]].items():
                    (directory / filename).write_text(content)
                options += ["-v", f"{directory}:{mount['mountPath']}:ro"]
            else:
                pytest.fail(f"the image test cannot mount volume {volume}")
        return options


def chart_pods() -> dict[str, PodSpec]:
    """Component name (and "helm-test") -> its container in the default render."""
    objects = render_chart()
    config_maps = {
        obj["metadata"]["name"]: obj["data"] for obj in objects if obj["kind"] == "ConfigMap"
    }
    pods: dict[str, PodSpec] = {}
    for obj in objects:
        if obj["kind"] in {"Deployment", "Pod"}:
            labels = obj["metadata"]["labels"]
            spec = obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]
            pods[labels["app.kubernetes.io/component"]] = PodSpec(
                obj, spec["containers"][0], config_maps
            )
    return pods


# --- running containers ------------------------------------------------------------------


@dataclass
class Container:
    name: str
    ports: dict[str, int] = field(default_factory=dict)

    def url(self, port: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[port]}{path}"

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def running(self) -> bool:
        state = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return state.stdout.strip() == "true"

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if condition():
                return
            if not self.running():
                pytest.fail(f"{self.name} exited before {what}:\n{self.logs()[-4000:]}")
            time.sleep(1)
        pytest.fail(f"{self.name}: no {what} within {STARTUP_SECONDS} s:\n{self.logs()[-4000:]}")

    def wait_until_answers(self, port: str, path: str) -> None:
        def answers() -> bool:
            try:
                return httpx.get(self.url(port, path), timeout=3).status_code == 200
            except httpx.HTTPError:
                return False

        self.wait_for(answers, f"200 from {path}")


def start(
    spec: PodSpec,
    image: str,
    name: str,
    workdir: Path,
    env: dict[str, str],
    secrets: dict[str, str],
    network: str = "host",
) -> Container:
    podman("rm", "--force", name, check=False)
    environment = {**spec.chart_env(secrets), **env}
    command = spec.container.get("command")
    podman(
        "run", "--detach", "--name", name, "--network", network,
        # podman's default rlimits are refused here; these match a kubelet's.
        "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096",
        "--log-driver", "k8s-file",
        *spec.restrictions(workdir),
        *[option for key, value in environment.items() for option in ("--env", f"{key}={value}")],
        *(["--entrypoint", json.dumps(command)] if command else []),
        image, *spec.container.get("args", []),
    )  # fmt: skip
    return Container(name)


def http_port(spec: PodSpec, name: str) -> int:
    return next(int(p["containerPort"]) for p in spec.container["ports"] if p["name"] == name)


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Build the images (cached layers make a rebuild of unchanged sources quick)."""
    for tool in ("buildah", "podman"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: run `make image-tools base-images`", pytrace=False)
    log = tmp_path_factory.mktemp("image-build") / "build.log"
    env = {
        **os.environ,
        "IMAGE_BUILDER": "buildah",
        "LOCAL_BASE_IMAGES": "1",
        "IMAGE_REGISTRY": REGISTRY,
        "IMAGE_TAG": TAG,
        "IMAGES": " ".join(IMAGES),
        "IMAGE_PUSH": "0",
    }
    with log.open("w") as output:
        result = subprocess.run(
            [str(REPO_ROOT / "scripts" / "build-images.sh")],
            env=env, stdout=output, stderr=subprocess.STDOUT, timeout=3600, check=False,
        )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"building the images failed:\n{log.read_text()[-6000:]}", pytrace=False)
    return {image: f"{REGISTRY}/{image}:{TAG}" for image in IMAGES}


@dataclass
class Stack:
    pods: dict[str, PodSpec]
    images: dict[str, str]
    containers: dict[str, Container]
    secrets: dict[str, str]
    workdir: Path
    prefix: str


@pytest.fixture(scope="module")
def stack(images: dict[str, str], redis_server: Any, livekit_server: Any) -> Iterator[Stack]:
    """The three images running side by side on loopback, as the chart runs them, with
    the session's real redis-server and livekit-server."""
    pods = chart_pods()
    secrets = {
        **SECRETS,
        "LIVEKIT_API_KEY": livekit_server.api_key,
        "LIVEKIT_API_SECRET": livekit_server.api_secret,
    }
    prefix = f"bright-smile-image-test-{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="image-test-"))
    ports = {
        "scheduling-api": {"http": free_port()},
        "token-service": {"http": free_port()},
        "agent-worker": {"health": free_port(), "metrics": free_port()},
    }
    env = {
        "scheduling-api": {
            "HOST": "127.0.0.1",
            "PORT": str(ports["scheduling-api"]["http"]),
            "REDIS_URL": redis_server.url,
        },
        "token-service": {
            "HOST": "127.0.0.1",
            "PORT": str(ports["token-service"]["http"]),
            "REDIS_URL": redis_server.url,
            "LIVEKIT_URL": livekit_server.url,
        },
        "agent-worker": {
            "HEALTH_PORT": str(ports["agent-worker"]["health"]),
            "PROMETHEUS_PORT": str(ports["agent-worker"]["metrics"]),
            "LIVEKIT_URL": livekit_server.url,
            "SCHEDULING_API_URL": f"http://127.0.0.1:{ports['scheduling-api']['http']}",
            "NUM_IDLE_PROCESSES": "1",
        },
    }
    containers: dict[str, Container] = {}
    try:
        for service in IMAGES:
            containers[service] = start(
                pods[service], images[service], f"{prefix}-{service}", workdir,
                env[service], secrets,
            )  # fmt: skip
            containers[service].ports.update(ports[service])
        yield Stack(pods, images, containers, secrets, workdir, prefix)
    finally:
        for container in containers.values():
            podman("rm", "--force", "--time", "5", container.name, check=False)
        shutil.rmtree(workdir, ignore_errors=True)


# --- tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["scheduling-api", "token-service"])
def test_api_image_answers_its_probes_and_metrics(stack: Stack, service: str) -> None:
    container = stack.containers[service]
    spec = stack.pods[service].container
    assert http_port(stack.pods[service], "http")
    container.wait_until_answers("http", spec["readinessProbe"]["httpGet"]["path"])
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        path = spec[probe]["httpGet"]["path"]
        assert httpx.get(container.url("http", path), timeout=5).status_code == 200, probe
    metrics = httpx.get(container.url("http", "/metrics"), timeout=5)
    assert metrics.status_code == 200
    assert f"{service.replace('-', '_')}_http_request_duration_seconds" in metrics.text


def test_token_image_serves_the_web_client_and_mints_tokens(stack: Stack) -> None:
    container = stack.containers["token-service"]
    container.wait_until_answers("http", "/readyz")
    page = httpx.get(container.url("http", "/"), timeout=5)
    assert page.status_code == 200
    assert "app.js" in page.text  # the bundle the image's web stage built
    issued = httpx.post(container.url("http", "/v1/token"), json={}, timeout=10)
    assert issued.status_code == 201, issued.text
    assert issued.json()["participant_token"].count(".") == 2


def test_api_images_run_the_charts_prestop_command(stack: Stack) -> None:
    """The preStop delay is a command inside the image: it must exist there."""
    running = []
    for service in ("scheduling-api", "token-service"):
        stack.containers[service].wait_until_answers("http", "/healthz")
        command = stack.pods[service].container["lifecycle"]["preStop"]["exec"]["command"]
        running.append((service, subprocess.Popen(
            ["podman", "--storage-driver", storage_driver(), "--runtime", "runc",
             "--cgroup-manager", "cgroupfs", "--events-backend", "file",
             "exec", stack.containers[service].name, *command],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )))  # fmt: skip
    for service, process in running:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, f"{service}: preStop failed: {output}"


def test_agent_image_registers_with_livekit(stack: Stack) -> None:
    worker = stack.containers["agent-worker"]
    worker.wait_for(lambda: "registered worker" in worker.logs(), "registration with LiveKit")
    worker.wait_until_answers("health", "/")
    info = httpx.get(worker.url("health", "/worker"), timeout=5).json()
    assert info["agent_name"] == AGENT_NAME
    worker.wait_for(
        lambda: (
            "lk_agents_worker_load" in httpx.get(worker.url("metrics", "/metrics"), timeout=5).text
        ),
        "worker metrics",
    )


def test_helm_test_script_passes_inside_the_image(stack: Stack) -> None:
    """`helm test`'s own pod (image, command, environment) against the running images,
    its Service URLs pointed at their loopback ports."""
    for container in stack.containers.values():
        for port in container.ports:
            if port in {"http", "health"}:
                container.wait_until_answers(port, "/healthz" if port == "http" else "/")
    spec = stack.pods["helm-test"]
    image = spec.container["image"]
    component = image.rsplit("/", 1)[1].split(":")[0]
    checks = []
    for check in spec.chart_env(stack.secrets)["CHECKS"].split():
        name, url = check.split("=", 1)
        path = "/" + url.split("/", 3)[3]
        port = "http" if name != "agent-worker" else "health"
        checks.append(f"{name}={stack.containers[name].url(port, path)}")
    assert {c.split("=")[0] for c in checks} == set(IMAGES)
    name = f"{stack.prefix}-helm-test"
    start(
        spec, stack.images[component], name, stack.workdir, {"CHECKS": " ".join(checks)},
        stack.secrets,
    )  # fmt: skip
    try:
        exit_code = podman("wait", name, timeout=300).stdout.strip()
        output = podman("logs", name).stdout
        assert exit_code == "0", output
        for service in IMAGES:
            assert f"ok   {service}:" in output, output
    finally:
        podman("rm", "--force", name, check=False)


def test_agent_image_drains_and_exits_cleanly_on_sigterm(stack: Stack) -> None:
    worker = stack.containers["agent-worker"]
    worker.wait_for(lambda: "registered worker" in worker.logs(), "registration with LiveKit")
    podman("kill", "--signal", "TERM", worker.name)
    exit_code = podman("wait", worker.name, timeout=300).stdout.strip()
    logs = worker.logs()
    assert "draining worker" in logs, logs[-4000:]
    assert exit_code == "0", logs[-4000:]


def test_agent_image_carries_its_models_and_starts_offline(
    images: dict[str, str], tmp_path: Path
) -> None:
    """No network at all (only the container's own loopback): the models load from the
    image, a job process initialises, and the health server answers."""
    spec = chart_pods()["agent-worker"]
    name = f"bright-smile-image-test-{os.getpid()}-offline"
    offline_secrets = {
        **SECRETS,
        "LIVEKIT_API_KEY": "offline-key",
        "LIVEKIT_API_SECRET": "offline-secret-of-at-least-32-characters",
    }
    worker = start(
        spec, images["agent-worker"], name, tmp_path,
        {"LIVEKIT_URL": "ws://127.0.0.1:9", "NUM_IDLE_PROCESSES": "1"}, offline_secrets,
        network="none",
    )  # fmt: skip
    try:
        worker.wait_for(
            lambda: "process initialized" in worker.logs(), "an initialised job process"
        )
        health = podman(
            "exec", name, "python", "-c",
            "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8081/worker').read().decode())",
        )  # fmt: skip
        assert json.loads(health.stdout)["agent_name"] == AGENT_NAME
        vad = podman(
            "exec", name, "python", "-c",
            "from livekit.plugins import silero; print(type(silero.VAD.load()).__name__)",
        )  # fmt: skip
        assert vad.stdout.strip() == "VAD"
    finally:
        podman("rm", "--force", "--time", "5", name, check=False)
