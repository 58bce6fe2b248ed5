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
from call_sim.stack import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
CHART = REPO_ROOT / "deploy" / "helm" / "bright-smile"
HELM = REPO_ROOT / ".tools" / "bin" / "helm"
RELEASE = "bright-smile"
REGISTRY = "localhost/bright-smile-test"
TAG = "test"
IMAGES = ("scheduling-api", "token-service", "agent-worker", "provider-sim")
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


PODMAN = [
    "podman", "--storage-driver", storage_driver(), "--cgroup-manager", "cgroupfs",
    "--runtime", "runc", "--events-backend", "file",
]  # fmt: skip


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    command = [*PODMAN, *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(command[:12])} ... failed:\n{result.stderr}", pytrace=False)
    return result


# --- the chart, rendered -------------------------------------------------------------------


def render_chart(livekit_url: str) -> list[dict[str, Any]]:
    if not HELM.exists():
        pytest.fail("helm is missing: run `make helm`", pytrace=False)
    result = subprocess.run(
        [str(HELM), "template", RELEASE, str(CHART), "--set", "redis.auth.enabled=false",
         "--set", "providerSim.enabled=true", "--set", f"livekit.url={livekit_url}",
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

    def chart_env(self, secrets: dict[str, str], addresses: dict[str, str]) -> dict[str, str]:
        """The container's environment: literal values with Kubernetes' $(VAR)
        expansion and each Service address swapped for its loopback one (`addresses`),
        `secrets`' value for each Secret key, 1 for resource fields."""
        env: dict[str, str] = {}
        for entry in self.container.get("env", []):
            name = entry["name"]
            if "value" in entry:
                value = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), entry["value"])
                for service, local in addresses.items():
                    value = re.sub(rf"//{re.escape(service)}(?=[/\s]|$)", f"//{local}", value)
                env[name] = value
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


@dataclass
class Chart:
    pods: dict[str, PodSpec]
    services: list[dict[str, Any]]

    def loopback_addresses(self, ports: dict[str, dict[str, int]]) -> dict[str, str]:
        """'<Service>:<port>' -> '127.0.0.1:<port here>' for each Service whose
        component runs here (`ports`: component -> container port name -> port)."""
        addresses = {}
        for service in self.services:
            component = service["spec"]["selector"]["app.kubernetes.io/component"]
            for port in service["spec"]["ports"]:
                if port["targetPort"] in ports.get(component, {}):
                    local = ports[component][port["targetPort"]]
                    addresses[f"{service['metadata']['name']}:{port['port']}"] = (
                        f"127.0.0.1:{local}"
                    )
        return addresses


def render(livekit_url: str) -> Chart:
    """Each component's (and the helm test's) container in a render with every image on."""
    objects = render_chart(livekit_url)
    config_maps = {
        obj["metadata"]["name"]: obj["data"] for obj in objects if obj["kind"] == "ConfigMap"
    }
    pods: dict[str, PodSpec] = {}
    for obj in objects:
        if obj["kind"] in {"Deployment", "Pod", "StatefulSet"}:
            labels = obj["metadata"]["labels"]
            spec = obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]
            pods[labels["app.kubernetes.io/component"]] = PodSpec(
                obj, spec["containers"][0], config_maps
            )
    services = [
        obj
        for obj in objects
        if obj["kind"] == "Service" and obj["spec"].get("clusterIP") != "None"
    ]
    return Chart(pods, services)


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
    addresses: dict[str, str],
    network: str = "host",
) -> Container:
    podman("rm", "--force", name, check=False)
    environment = {**spec.chart_env(secrets, addresses), **env}
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
    chart: Chart
    images: dict[str, str]
    containers: dict[str, Container]
    secrets: dict[str, str]
    addresses: dict[str, str]
    workdir: Path
    prefix: str


# Each service listens on its own free loopback port instead of the chart's fixed one.
PORT_ENV = {
    "scheduling-api": {"http": "PORT"},
    "token-service": {"http": "PORT"},
    "provider-sim": {"http": "PORT"},
    "agent-worker": {"health": "HEALTH_PORT", "metrics": "PROMETHEUS_PORT"},
}


@pytest.fixture(scope="module")
def stack(images: dict[str, str], redis_server: Any, livekit_server: Any) -> Iterator[Stack]:
    """The images running side by side on loopback, as the chart runs them, reaching
    each other, the session's real redis-server and livekit-server through the addresses
    the chart gives them (swapped for loopback ones)."""
    chart = render(livekit_server.url)
    secrets = {
        **SECRETS,
        "LIVEKIT_API_KEY": livekit_server.api_key,
        "LIVEKIT_API_SECRET": livekit_server.api_secret,
    }
    ports = {service: {port: free_port() for port in names} for service, names in PORT_ENV.items()}
    addresses = chart.loopback_addresses({**ports, "redis": {"redis": redis_server.port}})
    prefix = f"bright-smile-image-test-{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="image-test-"))
    containers: dict[str, Container] = {}
    try:
        for service in IMAGES:
            env = {
                variable: str(ports[service][port]) for port, variable in PORT_ENV[service].items()
            }
            if "HOST" in chart.pods[service].chart_env(secrets, addresses):
                env["HOST"] = "127.0.0.1"
            if service == "agent-worker":
                env["NUM_IDLE_PROCESSES"] = "1"  # the default forks several: slow on 2 cores
            containers[service] = start(
                chart.pods[service], images[service], f"{prefix}-{service}", workdir,
                env, secrets, addresses,
            )  # fmt: skip
            containers[service].ports.update(ports[service])
        yield Stack(chart, images, containers, secrets, addresses, workdir, prefix)
    finally:
        for container in containers.values():
            podman("rm", "--force", "--time", "5", container.name, check=False)
        shutil.rmtree(workdir, ignore_errors=True)


# --- tests ---------------------------------------------------------------------------------

HTTP_SERVICES = ["scheduling-api", "token-service", "provider-sim"]


@pytest.mark.parametrize("service", HTTP_SERVICES)
def test_image_answers_its_probes_and_metrics(stack: Stack, service: str) -> None:
    container = stack.containers[service]
    spec = stack.chart.pods[service].container
    container.wait_until_answers("http", spec["readinessProbe"]["httpGet"]["path"])
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert spec[probe]["httpGet"]["port"] == "http"
        path = spec[probe]["httpGet"]["path"]
        assert httpx.get(container.url("http", path), timeout=5).status_code == 200, probe
    metrics = httpx.get(container.url("http", "/metrics"), timeout=5)
    assert metrics.status_code == 200
    assert f"# TYPE {service.replace('-', '_')}_" in metrics.text


def test_token_image_serves_the_web_client_and_mints_tokens(stack: Stack) -> None:
    container = stack.containers["token-service"]
    container.wait_until_answers("http", "/readyz")
    page = httpx.get(container.url("http", "/"), timeout=5)
    assert page.status_code == 200
    assert "app.js" in page.text  # the bundle the image's web stage built
    issued = httpx.post(container.url("http", "/v1/token"), json={}, timeout=10)
    assert issued.status_code == 201, issued.text
    assert (
        issued.json()["server_url"]
        == stack.chart.pods["token-service"].chart_env(stack.secrets, stack.addresses)[
            "LIVEKIT_URL"
        ]
    )


def test_api_images_run_the_charts_prestop_command(stack: Stack) -> None:
    """The preStop delay is a command inside the image: it must exist there."""
    running = []
    for service in ("scheduling-api", "token-service"):
        stack.containers[service].wait_until_answers("http", "/healthz")
        command = stack.chart.pods[service].container["lifecycle"]["preStop"]["exec"]["command"]
        running.append((service, subprocess.Popen(
            [*PODMAN, "exec", stack.containers[service].name, *command],
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
    """`helm test`'s own pod (image, command, environment) run against the images."""
    for service, container in stack.containers.items():
        port = "health" if service == "agent-worker" else "http"
        container.wait_until_answers(port, "/" if service == "agent-worker" else "/healthz")
    spec = stack.chart.pods["helm-test"]
    component = spec.container["image"].rsplit("/", 1)[1].split(":")[0]
    name = f"{stack.prefix}-helm-test"
    start(spec, stack.images[component], name, stack.workdir, {}, stack.secrets, stack.addresses)
    try:
        exit_code = podman("wait", name, timeout=300).stdout.strip()
        output = podman("logs", name).stdout
        assert exit_code == "0", output
        for service in ("token service", "scheduling API"):
            assert f"ok   {service} is ready (http://127.0.0.1:" in output, output
        assert "ok   worker " in output, output
        assert output.rstrip().endswith("ok   the release answers end to end"), output
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
    spec = render("ws://127.0.0.1:9").pods["agent-worker"]
    name = f"bright-smile-image-test-{os.getpid()}-offline"
    secrets = {
        **SECRETS,
        "LIVEKIT_API_KEY": "offline-key",
        "LIVEKIT_API_SECRET": "offline-secret-of-at-least-32-characters",
    }
    worker = start(
        spec, images["agent-worker"], name, tmp_path, {"NUM_IDLE_PROCESSES": "1"}, secrets, {},
        network="none",
    )  # fmt: skip
    try:
        worker.wait_for(
            lambda: "process initialized" in worker.logs(), "an initialised job process"
        )
        health_port = spec.chart_env(secrets, {})["HEALTH_PORT"]
        fetch = "import sys, urllib.request as u; print(u.urlopen(sys.argv[1]).read().decode())"
        url = f"http://127.0.0.1:{health_port}/worker"
        health = podman("exec", name, "python", "-c", fetch, url)
        assert json.loads(health.stdout)["agent_name"] == AGENT_NAME
        vad = podman(
            "exec", name, "python", "-c",
            "from livekit.plugins import silero; print(type(silero.VAD.load()).__name__)",
        )  # fmt: skip
        assert vad.stdout.strip() == "VAD"
        # `download-files` ran at build time and filled the offline model folder.
        podman("exec", name, "sh", "-c", 'test -d "$HF_HOME" && test "$HF_HUB_OFFLINE" = 1')
    finally:
        podman("rm", "--force", "--time", "5", name, check=False)
