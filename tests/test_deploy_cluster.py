"""The chart and the plain manifests on a real Kubernetes API server.

`scripts/kube-cluster.sh` runs etcd, kube-apiserver, kube-controller-manager and
kube-scheduler v1.35 (built by `make kube-cluster`) on loopback, with kwok playing three
nodes: pods are scheduled, admitted and reported Running/Ready, but no container runs.
So this proves what the API server, the admission chain (Pod Security included), the
controllers and helm decide; what only a kubelet or a network plugin could show stays
with the offline policy tests (see deploy/README.md).

The tests run in file order and share one cluster: the install, drain, upgrade and
uninstall tests follow one release through its life.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from call_sim.stack import Component, StackError
from helm_chart import CHART, REPO_ROOT, readme_block

TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
CLUSTER_SCRIPT = REPO_ROOT / "scripts" / "kube-cluster.sh"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
APP_COMPONENTS = ("scheduling-api", "token-service", "agent-worker")
START_TIMEOUT = 300.0

pytestmark = pytest.mark.slow

# What the operator fills in; every name in the install commands must be one of these.
OPERATOR_SETTINGS = {
    "RELEASE": "bright-smile",
    "NAMESPACE": "clinic",
    "LIVEKIT_URL": "wss://livekit.test.internal",
    "LIVEKIT_API_KEY": "test-livekit-key",
    "LIVEKIT_API_SECRET": "test-livekit-secret-of-more-than-32-characters",
    "DEEPGRAM_API_KEY": "test-deepgram-key",
    "OPENAI_API_KEY": "test-openai-key",
    "CARTESIA_API_KEY": "test-cartesia-key",
    "IMAGE_REGISTRY": "registry.test.internal/bright-smile",
    "HOST": "call.test.internal",
    "INGRESS_CLASS": "nginx",
    "TLS_SECRET": "call-tls",
    "PROMETHEUS_RELEASE": "kube-prometheus-stack",
}


def chart_value_sets() -> dict[str, dict[str, Any]]:
    """The value sets the offline chart tests render (one list for both suites)."""
    spec = importlib.util.spec_from_file_location(
        "deploy_chart_value_sets", Path(__file__).with_name("test_deploy_chart.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.VALUE_SETS)


def variables_used(script: str) -> set[str]:
    assigned = set(re.findall(r"^([A-Z_]+)=", script, re.M))
    return set(re.findall(r"\$\{?([A-Z_]+)", script)) - assigned


@dataclass
class Cluster:
    workdir: Path
    process: Component

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.workdir / "kubeconfig"),
            "PATH": f"{TOOLS_BIN}:{os.environ['PATH']}",
        }

    def logs(self) -> str:
        parts = [(self.workdir / "cluster.log").read_text(errors="replace")]
        for log in sorted((self.workdir / "logs").glob("*.log")):
            parts.append(f"--- {log.name} (last lines)\n" + "\n".join(
                log.read_text(errors="replace").splitlines()[-15:]
            ))  # fmt: skip
        return "\n".join(parts)

    def run(self, *argv: str, timeout: float = 120, stderr: bool = True) -> str:
        result = subprocess.run(
            list(argv), env=self.env, cwd=REPO_ROOT, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            pytest.fail(f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout + (result.stderr if stderr else "")

    def kubectl(self, *args: str, timeout: float = 120) -> str:
        return self.run(str(TOOLS_BIN / "kubectl"), *args, timeout=timeout)

    def helm(self, *args: str, timeout: float = 300, stderr: bool = True) -> str:
        return self.run(str(TOOLS_BIN / "helm"), *args, timeout=timeout, stderr=stderr)

    def shell(self, script: str, settings: dict[str, str], cwd: Path = REPO_ROOT) -> str:
        """Runs a README block with bash -e, as an operator's terminal would."""
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], env={**self.env, **settings},
            cwd=cwd, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            pytest.fail(f"the README commands failed:\n{script}\n{result.stdout}\n{result.stderr}")
        return result.stdout + result.stderr

    def objects(self, kind: str, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        args = ["get", kind, "-n", namespace, "-o", "json"]
        if selector:
            args += ["-l", selector]
        return list(json.loads(self.kubectl(*args))["items"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    missing = [name for name in (*BINARIES, "kubectl", "helm") if not (TOOLS_BIN / name).exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing from .tools/bin: run `make kube-cluster helm` "
            "(`make test` does it for you)",
            pytrace=False,
        )
    workdir = tmp_path_factory.mktemp("kube-cluster")
    process = Component(
        name="kube-cluster",
        argv=[str(CLUSTER_SCRIPT), str(workdir)],
        env=dict(os.environ),
        log_path=workdir / "cluster.log",
        ready=(workdir / "ready").exists,
        address=str(workdir / "kubeconfig"),
        death_signal="TERM",  # which the script turns into stopping the cluster
    )
    running = Cluster(workdir, process)
    try:
        process.launch(START_TIMEOUT)
    except StackError:
        pytest.fail(f"the test cluster did not start:\n{running.logs()}", pytrace=False)
    yield running
    process.stop(timeout=60)


# --- helpers over live objects -------------------------------------------------------------


def component_of(obj: dict[str, Any]) -> str:
    return str(obj["metadata"].get("labels", {}).get("app.kubernetes.io/component", ""))


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
    return pod["status"].get("phase") == "Running" and conditions.get("Ready") == "True"


def app_pods(cluster: Cluster, namespace: str, release: str) -> list[dict[str, Any]]:
    pods = cluster.objects("pods", namespace, f"app.kubernetes.io/instance={release}")
    return [pod for pod in pods if "deletionTimestamp" not in pod["metadata"]]


def wait_for(what: str, check: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(1)


def assert_pods_run_with_their_secrets(
    cluster: Cluster, namespace: str, release: str
) -> list[dict[str, Any]]:
    """Every pod Running/Ready on a simulated node, and every Secret key it reads exists:
    kwok starts no containers, so this is the check a kubelet would make first. The
    Deployments start at one replica each: their autoscalers raise them to minReplicas
    (2) within a sync period or two."""
    wanted = {
        "scheduling-api": 2,
        "token-service": 2,
        "agent-worker": 2,
        "webhook-dispatcher": 2,
        "redis": 1,
    }

    def scaled_and_ready() -> list[dict[str, Any]] | None:
        pods = app_pods(cluster, namespace, release)
        counts = {name: 0 for name in wanted}
        for pod in pods:
            if component_of(pod) in counts and is_ready(pod):
                counts[component_of(pod)] += 1
        return pods if counts == wanted and len(pods) == sum(wanted.values()) else None

    pods: list[dict[str, Any]] = wait_for(
        "the autoscalers' minimum of pods, all Running/Ready", scaled_and_ready, timeout=180
    )
    secrets = {
        s["metadata"]["name"]: set(s.get("data", {})) for s in cluster.objects("secrets", namespace)
    }
    for pod in pods:
        name = pod["metadata"]["name"]
        assert is_ready(pod), f"{name} is not Running/Ready: {pod['status']}"
        assert pod["spec"]["nodeName"].startswith("sim-node-")
        for container in pod["spec"]["containers"]:
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    assert ref["key"] in secrets.get(ref["name"], set()), (
                        f"{name} reads {ref['name']}/{ref['key']}, which does not exist: the "
                        "pod would wait in CreateContainerConfigError"
                    )
    return pods


# --- dry runs ------------------------------------------------------------------------------


def restricted_namespace(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
    )  # fmt: skip


def test_every_value_set_installs_under_restricted_pod_security(
    cluster: Cluster, tmp_path: Path
) -> None:
    """helm's server dry run (kubeVersion, lookups, the server's OpenAPI), then every
    rendered object, helm test pod included, through the API server's admission chain in
    a dry run (helm's own dry run does not send the objects)."""
    restricted_namespace(cluster, "dry-run")
    restricted_namespace(cluster, "restricted")
    cluster.kubectl("create", "namespace", "monitoring")
    # The helm test pod names the release's ServiceAccount, which admission wants to
    # exist, and a dry run creates nothing.
    cluster.kubectl("create", "serviceaccount", "bright-smile", "-n", "restricted")
    for name, values in chart_value_sets().items():
        values_file = tmp_path / f"{name}.yaml"
        values_file.write_text(yaml.safe_dump(values))
        output = cluster.helm(
            "install", "bright-smile", str(CHART), "-n", "dry-run", "-f", str(values_file),
            "--dry-run=server",
        )  # fmt: skip
        assert "STATUS: pending-install" in output, f"{name}: {output[:500]}"
        rendered = cluster.helm(
            "template", "bright-smile", str(CHART), "-n", "restricted", "-f", str(values_file),
            stderr=False,
        )  # fmt: skip
        documents = [doc for doc in yaml.safe_load_all(rendered) if doc]
        for doc in documents:
            doc["metadata"].setdefault("namespace", "restricted")
        manifest = tmp_path / f"{name}-rendered.yaml"
        manifest.write_text(yaml.safe_dump_all(documents))
        applied = cluster.kubectl("apply", "--server-side", "--dry-run=server", "-f", str(manifest))
        assert "Warning" not in applied, f"{name}: Pod Security warns:\n{applied}"
        assert applied.count("(server dry run)") == len(documents), f"{name}:\n{applied}"


def test_the_restricted_namespace_really_refuses_a_privileged_pod(cluster: Cluster) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root", "namespace": "restricted"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    result = subprocess.run(
        [str(TOOLS_BIN / "kubectl"), "apply", "--dry-run=server", "-f", "-"],
        input=json.dumps(pod), env=cluster.env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert 'violates PodSecurity "restricted' in result.stderr


# --- the README's install, through the release's life -------------------------------------


def test_readme_install_commands_name_only_the_documented_settings() -> None:
    settings = readme_block("operator-settings")
    documented = set(re.findall(r"^([A-Z_]+)=", settings, re.M))
    assert documented == set(OPERATOR_SETTINGS)
    pasted = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", settings + "\necho $RELEASE $LIVEKIT_API_KEY"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert pasted.returncode == 0, f"the settings block does not paste into bash:\n{pasted}"
    assert pasted.stdout == "bright-smile <your LiveKit API key>\n"
    for block in ("install-commands", "quick-trial", "kustomize-overlay"):
        unknown = variables_used(readme_block(block)) - documented
        assert not unknown, f"{block} uses {unknown}, which the settings block does not set"


def test_readme_install_runs_and_every_pod_gets_ready(cluster: Cluster) -> None:
    # Only sim-node-0 takes pods during the install, so the drain test below has two
    # replicas of each component on one node to evict, and nowhere to put them at first.
    for node in ("sim-node-1", "sim-node-2"):
        cluster.kubectl("cordon", node)
    output = cluster.shell(readme_block("install-commands"), OPERATOR_SETTINGS)
    assert "STATUS: deployed" in output
    assert "PLACEHOLDERS" not in output, "NOTES flag a value the README sets"
    # NOTES look the Secrets up on the server: every one the commands made is found.
    assert "YOU CREATE IT" not in output, output
    assert output.count(": found, created by you") == 4, output
    pods = assert_pods_run_with_their_secrets(cluster, "clinic", "bright-smile")
    assert {pod["spec"]["nodeName"] for pod in pods} == {"sim-node-0"}
    for pod in pods:
        if component_of(pod) in (*APP_COMPONENTS, "webhook-dispatcher"):
            (container,) = pod["spec"]["containers"]
            assert container["image"].startswith(OPERATOR_SETTINGS["IMAGE_REGISTRY"] + "/")
    (ingress,) = cluster.objects("ingress", "clinic")
    assert ingress["spec"]["tls"][0]["hosts"] == [OPERATOR_SETTINGS["HOST"]]
    monitors = cluster.objects("servicemonitors", "clinic")
    assert {component_of(monitor) for monitor in monitors} == {
        *APP_COMPONENTS,
        "webhook-dispatcher",
    }
    for obj in (*monitors, *cluster.objects("prometheusrules", "clinic")):
        assert obj["metadata"]["labels"]["release"] == OPERATOR_SETTINGS["PROMETHEUS_RELEASE"]


def test_autoscalers_and_disruption_budgets_are_in_place(cluster: Cluster) -> None:
    autoscalers = {
        hpa["spec"]["scaleTargetRef"]["name"]: hpa for hpa in cluster.objects("hpa", "clinic")
    }
    assert set(autoscalers) == {f"bright-smile-{name}" for name in APP_COMPONENTS}
    for hpa in autoscalers.values():
        assert hpa["spec"]["minReplicas"] == 2
    budgets = {component_of(pdb): pdb for pdb in cluster.objects("pdb", "clinic")}
    assert set(APP_COMPONENTS) <= set(budgets)

    def counted() -> bool:
        return all(
            budgets[name].get("status", {}).get("currentHealthy") == 2
            and budgets[name]["status"].get("disruptionsAllowed") == 1
            for name in APP_COMPONENTS
        )

    def refresh() -> bool:
        budgets.update({component_of(p): p for p in cluster.objects("pdb", "clinic")})
        return counted()

    wait_for("the disruption controller to count the pods", refresh)


def test_drain_evicts_through_the_disruption_budgets(cluster: Cluster, tmp_path: Path) -> None:
    """While the other nodes are still cordoned, no replacement can start: the drain
    evicts one pod of each component, and the budgets refuse the second until the
    other nodes take pods again. (Left free, kwok makes replacements Ready so fast
    that the budgets would rarely be seen to act.)"""
    output = tmp_path / "drain.log"
    with output.open("wb") as log:
        # Redis is a single pod; its own budget (if any) is its business, not the drain's.
        drain = subprocess.Popen(
            [str(TOOLS_BIN / "kubectl"), "drain", "sim-node-0", "--ignore-daemonsets",
             "--delete-emptydir-data", "--pod-selector", "app.kubernetes.io/component!=redis",
             "--timeout", "240s"],
            env=cluster.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:

        def held_by_the_budgets() -> bool:
            budgets = {component_of(p): p for p in cluster.objects("pdb", "clinic")}
            ready = [
                component_of(p)
                for p in app_pods(cluster, "clinic", "bright-smile")
                if is_ready(p) and component_of(p) in APP_COMPONENTS
            ]
            return all(
                ready.count(name) == 1
                and budgets[name].get("status", {}).get("disruptionsAllowed") == 0
                for name in APP_COMPONENTS
            )

        wait_for("the drain to stop at the budgets", held_by_the_budgets)
        wait_for(
            "the drain to report a refused eviction",
            lambda: "would violate the pod's disruption budget" in output.read_text(),
        )
        assert drain.poll() is None, output.read_text()
        assert held_by_the_budgets(), "a budget let a second pod go"
        for node in ("sim-node-1", "sim-node-2"):
            cluster.kubectl("uncordon", node)
        assert drain.wait(timeout=300) == 0, output.read_text()
    finally:
        if drain.poll() is None:
            drain.kill()
            drain.wait()
    assert "node/sim-node-0 drained" in output.read_text()

    def moved() -> list[dict[str, Any]] | None:
        pods = [
            p
            for p in app_pods(cluster, "clinic", "bright-smile")
            if component_of(p) in APP_COMPONENTS
        ]
        done = len(pods) == 6 and all(
            is_ready(p) and p["spec"]["nodeName"] != "sim-node-0" for p in pods
        )
        return pods if done else None

    wait_for("the drained pods to run elsewhere", moved)
    cluster.kubectl("uncordon", "sim-node-0")


def rollout_state(cluster: Cluster) -> dict[str, tuple[int, frozenset[str]]]:
    """Per component: the workload's generation and the uids of its pods."""
    state: dict[str, tuple[int, frozenset[str]]] = {}
    workloads = cluster.objects("deployments", "clinic") + cluster.objects("statefulsets", "clinic")
    pods = app_pods(cluster, "clinic", "bright-smile")
    for workload in workloads:
        name = component_of(workload)
        uids = frozenset(p["metadata"]["uid"] for p in pods if component_of(p) == name)
        state[name] = (int(workload["metadata"]["generation"]), uids)
    return state


def test_a_values_upgrade_rolls_only_what_changed(cluster: Cluster) -> None:
    before = rollout_state(cluster)
    cluster.helm(
        "upgrade", "bright-smile", str(CHART), "-n", "clinic", "--reuse-values",
        "--set", "tokenService.tokenTtlSeconds=600", "--wait", "--timeout", "5m",
    )  # fmt: skip

    def settled() -> dict[str, tuple[int, frozenset[str]]] | None:
        after = rollout_state(cluster)
        token_pods = after["token-service"][1]
        return (
            after if len(token_pods) == 2 and not token_pods & before["token-service"][1] else None
        )

    after = wait_for("the token service's new pods", settled)
    assert after["token-service"][0] == before["token-service"][0] + 1
    for name in ("scheduling-api", "agent-worker", "redis"):
        assert after[name] == before[name], f"{name} was rolled by a token-service change"
    (deployment,) = cluster.objects(
        "deployments", "clinic", "app.kubernetes.io/component=token-service"
    )
    env = {
        e["name"]: e.get("value")
        for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["TOKEN_TTL_SECONDS"] == "600"


def test_uninstall_keeps_the_redis_volume_claim(cluster: Cluster) -> None:
    (claim,) = cluster.objects("pvc", "clinic")
    assert claim["status"]["phase"] == "Bound"
    cluster.helm("uninstall", "bright-smile", "-n", "clinic", "--wait", "--timeout", "5m")
    wait_for("the release's pods to go", lambda: not app_pods(cluster, "clinic", "bright-smile"))
    assert not cluster.objects("statefulsets", "clinic")
    (kept,) = cluster.objects("pvc", "clinic")
    assert kept["metadata"]["uid"] == claim["metadata"]["uid"]
    assert kept["status"]["phase"] == "Bound"


def test_the_quick_trial_creates_every_secret_it_needs(cluster: Cluster) -> None:
    settings = {**OPERATOR_SETTINGS, "RELEASE": "trial", "NAMESPACE": "trial"}
    output = cluster.shell(readme_block("quick-trial"), settings)
    assert "STATUS: deployed" in output
    assert "YOU CREATE IT" not in output, output
    assert_pods_run_with_their_secrets(cluster, "trial", "trial")
    cluster.helm("uninstall", "trial", "-n", "trial", "--wait", "--timeout", "5m")


# --- plain manifests -----------------------------------------------------------------------


def test_plain_manifests_pass_a_server_dry_run(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", "plain")
    for directory in ("deploy/k8s", "deploy/k8s/monitoring"):
        output = cluster.kubectl("apply", "--dry-run=server", "-n", "plain", "-k", directory)
        assert "(server dry run)" in output
        assert "error" not in output.lower(), output


def test_the_readme_overlay_patches_the_placeholders(cluster: Cluster, tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "deploy" / "k8s", tmp_path / "deploy" / "k8s")
    settings = {**OPERATOR_SETTINGS, "NAMESPACE": "plain"}
    cluster.shell(readme_block("kustomize-overlay"), settings, cwd=tmp_path)
    for deployment in cluster.objects("deployments", "plain"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"].startswith(OPERATOR_SETTINGS["IMAGE_REGISTRY"] + "/")
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        if "LIVEKIT_URL" in env:
            assert env["LIVEKIT_URL"] == OPERATOR_SETTINGS["LIVEKIT_URL"]
    assert "livekit.example.com" not in cluster.kubectl(
        "get", "deployments", "-n", "plain", "-o", "yaml"
    )
