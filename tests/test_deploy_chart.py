"""The Helm chart, proven offline: lint, render, Kubernetes schemas and deployment policy.

No cluster can run here, so every value set is rendered with the pinned helm binary
(`make helm`) and each object is checked the way the API server and our own rules
would: schema-validated with kubernetes-validate (strict: unknown fields fail), custom
resources against their structure, and the policies the issue demands (sizing, probes,
non-root, read-only root, secrets only in Secrets, drains longer than calls, ...).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from helm_chart import (
    CHART,
    RELEASE,
    REPO_ROOT,
    documents,
    helm_binary,
    named,
    of_kind,
    readme_block,
    render_chart,
    run_helm,
)

SERVICE_CLINICS = REPO_ROOT / "services" / "scheduling-api" / "src" / "scheduling_api" / "clinics"
# The chart's kubeVersion floor, and the newest schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.27", kubernetes_validate.utils.latest_version())
COMPONENTS = ("scheduling-api", "token-service", "agent-worker")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Pod"}

FAKE = {
    "livekit_key": "fake-livekit-key-5b1e0c",
    "livekit_secret": "fake-livekit-secret-0d9c2a7e41b3f6d8a0c2e4f6",
    "deepgram": "fake-deepgram-key-71ac",
    "openai": "fake-openai-key-93de",
    "cartesia": "fake-cartesia-key-27f0",
    "agent_token": "fake-agent-token-4c8d1e",
    "backoffice_token": "fake-backoffice-token-a61f",
    "slot_secret": "fake-slot-secret-e02b95c7",
    "token_api_key": "fake-token-api-key-3d7e9b",
    "redis_password": "fake-redis-password-8f41",
    "redis_url": "rediss://:fake-external-redis-pw-1c2d@redis.example.internal:6380/2",
}

CREATED_SECRETS: dict[str, Any] = {
    "secrets": {
        "livekit": {
            "create": True,
            "apiKey": FAKE["livekit_key"],
            "apiSecret": FAKE["livekit_secret"],
        },
        "providers": {
            "create": True,
            "deepgramApiKey": FAKE["deepgram"],
            "openaiApiKey": FAKE["openai"],
            "cartesiaApiKey": FAKE["cartesia"],
        },
        "schedulingApi": {
            "create": True,
            "agentToken": FAKE["agent_token"],
            "clientTokens": [FAKE["backoffice_token"]],
            "slotIdSecret": FAKE["slot_secret"],
        },
        "tokenService": {"create": True, "apiKeys": [FAKE["token_api_key"]]},
    },
    "redis": {"auth": {"create": True, "password": FAKE["redis_password"]}},
}

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "external-redis": {
        "redis": {"enabled": False},
        "externalRedis": {"existingSecret": "my-redis"},
    },
    "autoscaling-off": {
        component: {"autoscaling": {"enabled": False}, "replicaCount": 3}
        for component in ("schedulingApi", "tokenService", "agentWorker")
    },
    "ingress-on": {
        "tokenService": {
            "ingress": {
                "enabled": True,
                "className": "nginx",
                "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
                "hosts": [{"host": "call.clinic.example"}],
                "tls": [{"hosts": ["call.clinic.example"], "secretName": "call-tls"}],
            },
            "corsAllowOrigins": ["https://www.clinic.example"],
            "trustedProxyCidrs": ["10.0.0.0/8"],
        }
    },
    "existing-secrets": {
        "secrets": {
            "livekit": {"existingSecret": "lk-creds"},
            "providers": {"existingSecret": "provider-creds"},
            "schedulingApi": {"existingSecret": "sched-creds"},
            "tokenService": {"existingSecret": "token-creds"},
        },
        "redis": {"auth": {"existingSecret": "redis-creds"}},
    },
    "created-secrets": CREATED_SECRETS,
    "created-external-redis": {
        "redis": {"enabled": False},
        "externalRedis": {"create": True, "url": FAKE["redis_url"]},
    },
    "everything-on": {
        "providerSim": {"enabled": True},
        "redis": {"auth": {"enabled": False}, "appendfsync": "everysec"},
        "agentWorker": {
            "autoscaling": {"workerLoadMetric": {"enabled": True}},
            "env": {"ENDPOINTING_MIN_DELAY_SECONDS": "0.4"},
        },
        "schedulingApi": {
            "networkPolicy": {
                "clinicBackends": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "office"}
                        }
                    }
                ]
            },
            "env": {"MIN_NOTICE_MINUTES": 240},
        },
        "clinics": {"extraFiles": {"second-clinic.yaml": "clinic_id: second-clinic\n"}},
        "metrics": {"serviceMonitor": {"labels": {"release": "kube-prometheus-stack"}}},
        "grafana": {
            "dashboards": {"labels": {"grafana_dashboard": "yes"}, "namespace": "monitoring"}
        },
    },
    "monitoring-off": {
        "metrics": {"serviceMonitor": {"enabled": False}, "prometheusRule": {"enabled": False}},
        "grafana": {"dashboards": {"enabled": False}},
        "networkPolicy": {"enabled": False},
    },
}


# --- helpers ------------------------------------------------------------------------


def values_file(tmp_dir: Path, name: str) -> Path:
    path = tmp_dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(VALUE_SETS[name]))
    return path


@functools.cache
def render_text(name: str, tmp_dir: Path) -> str:
    result = run_helm("template", RELEASE, str(CHART), "-f", str(values_file(tmp_dir, name)))
    assert result.returncode == 0, f"helm template failed for {name!r}:\n{result.stderr}"
    return result.stdout


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"] if workload["kind"] == "Pod" else workload["spec"]["template"]["spec"]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    if workload["kind"] == "Pod":
        return dict(workload["metadata"].get("labels", {}))
    return dict(workload["spec"]["template"]["metadata"].get("labels", {}))


def containers(workload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = pod_spec(workload)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def is_helm_test(obj: dict[str, Any]) -> bool:
    return obj["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"


def component(name: str) -> str:
    return f"{RELEASE}-{name}"


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def values_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("values")


@pytest.fixture(scope="module")
def rendered(values_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every value set rendered once: name -> objects."""
    return {name: documents(render_text(name, values_dir)) for name in VALUE_SETS}


@pytest.fixture(scope="module")
def defaults(rendered: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return rendered["defaults"]


# --- lint and render ------------------------------------------------------------------


@pytest.mark.parametrize("name", VALUE_SETS)
def test_helm_lint_strict_passes(name: str, values_dir: Path) -> None:
    result = run_helm("lint", "--strict", str(CHART), "-f", str(values_file(values_dir, name)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_values_schema_rejects_typos_and_bad_values() -> None:
    typo = run_helm("template", RELEASE, str(CHART), "--set", "agentWorker.resourses.cpu=1")
    assert typo.returncode != 0
    assert "resourses" in typo.stderr
    short_secret = run_helm(
        "template", RELEASE, str(CHART),
        "--set", "secrets.livekit.create=true",
        "--set", "secrets.livekit.apiKey=k",
        "--set", "secrets.livekit.apiSecret=too-short",
    )  # fmt: skip
    assert short_secret.returncode != 0
    assert "apiSecret" in short_secret.stderr
    no_fsync = run_helm("template", RELEASE, str(CHART), "--set", "redis.appendfsync=no")
    assert no_fsync.returncode != 0


def test_chart_refuses_a_grace_period_shorter_than_the_drain() -> None:
    result = run_helm(
        "template", RELEASE, str(CHART),
        "--set", "agentWorker.drainTimeoutSeconds=600",
        "--set", "agentWorker.terminationGracePeriodSeconds=600",
    )  # fmt: skip
    assert result.returncode != 0
    assert "terminationGracePeriodSeconds must be longer" in result.stderr


def test_created_secrets_need_their_values() -> None:
    result = run_helm("template", RELEASE, str(CHART), "--set", "secrets.providers.create=true")
    assert result.returncode != 0
    assert "secrets.providers.deepgramApiKey is required" in result.stderr
    both = run_helm(
        "template", RELEASE, str(CHART),
        "--set", "secrets.livekit.create=true",
        "--set", "secrets.livekit.existingSecret=mine",
        "--set", "secrets.livekit.apiKey=k",
        "--set", f"secrets.livekit.apiSecret={FAKE['livekit_secret']}",
    )  # fmt: skip
    assert both.returncode != 0
    assert "either existingSecret or create" in both.stderr


# --- schemas -------------------------------------------------------------------------

SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "metadata": {"type": "object", "required": ["name", "labels"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["matchLabels"],
                    "properties": {
                        "matchLabels": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        }
                    },
                },
                "namespaceSelector": {"type": "object"},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port", "path"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "interval": {"type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$"},
                            "scrapeTimeout": {"type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$"},
                        },
                    },
                },
            },
        },
    },
}

PROMETHEUS_RULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "metadata": {"type": "object", "required": ["name", "labels"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["groups"],
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "rules"],
                        "properties": {
                            "name": {"type": "string"},
                            "rules": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["alert", "expr", "for", "labels", "annotations"],
                                    "properties": {
                                        "alert": {"type": "string", "pattern": "^[A-Za-z]+$"},
                                        "expr": {"type": "string", "minLength": 1},
                                        "for": {"type": "string", "pattern": "^[0-9]+[smh]$"},
                                        "labels": {
                                            "type": "object",
                                            "required": ["severity"],
                                            "properties": {
                                                "severity": {"enum": ["warning", "critical"]}
                                            },
                                        },
                                        "annotations": {
                                            "type": "object",
                                            "required": ["summary", "description"],
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}
CUSTOM_RESOURCE_SCHEMAS = {
    "ServiceMonitor": SERVICE_MONITOR_SCHEMA,
    "PrometheusRule": PROMETHEUS_RULE_SCHEMA,
}


@functools.cache
def validate_once(serialized: str, version: str) -> str | None:
    """kubernetes-validate (strict) of one object; None when valid, else the reason."""
    obj = json.loads(serialized)
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        return f"{obj['kind']}/{obj['metadata']['name']} @ {path}: {error.message}"
    return None


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_object_validates_against_the_kubernetes_schemas(
    name: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    problems = []
    for obj in rendered[name]:
        if obj["kind"] in CUSTOM_RESOURCE_SCHEMAS:
            # CRDs are not in kubernetes-validate's schemas: checked structurally below.
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                problem = validate_once(json.dumps(obj, sort_keys=True), version)
            except kubernetes_validate.SchemaNotFoundError:
                problem = f"no schema for {obj['apiVersion']} {obj['kind']} in Kubernetes {version}"
            if problem:
                problems.append(f"[{version}] {problem}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", VALUE_SETS)
def test_custom_resources_have_the_operator_structure(
    name: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    objects = rendered[name]
    services = of_kind(objects, "Service")
    for obj in objects:
        schema = CUSTOM_RESOURCE_SCHEMAS.get(obj["kind"])
        if schema is None:
            continue
        jsonschema.validate(obj, schema)
        if obj["kind"] == "ServiceMonitor":
            selector = obj["spec"]["selector"]["matchLabels"]
            selected = [
                svc
                for svc in services
                if selector.items() <= svc["metadata"]["labels"].items()
                and svc["spec"].get("clusterIP") != "None"
            ]
            assert len(selected) == 1, f"{obj['metadata']['name']} selects {len(selected)} Services"
            port_names = {port["name"] for port in selected[0]["spec"]["ports"]}
            for endpoint in obj["spec"]["endpoints"]:
                assert endpoint["port"] in port_names


def test_service_monitors_carry_the_configured_labels(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    monitors = of_kind(rendered["everything-on"], "ServiceMonitor")
    assert {m["metadata"]["name"] for m in monitors} == {
        component(c) for c in (*COMPONENTS, "provider-sim", "webhook-dispatcher")
    }
    for monitor in monitors:
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def readme_install_sets() -> list[str]:
    """The `--set` arguments of deploy/README.md's `helm install`, as bash expands them
    with the README's own operator settings (the blocks the cluster test runs)."""
    install = re.sub(r"\\\n\s*", " ", readme_block("install-commands"))
    (command,) = [line for line in install.splitlines() if line.startswith("helm install ")]
    print_arguments = "helm() { printf '%s\\0' \"$@\"; }"
    script = "\n".join([readme_block("operator-settings"), print_arguments, command])
    run = subprocess.run(["bash", "-c", script], capture_output=True, check=True, text=True)
    words = run.stdout.split("\0")
    return [words[i + 1] for i, word in enumerate(words) if word == "--set"]


def test_readme_install_command_labels_the_alerts_for_kube_prometheus_stack() -> None:
    """kube-prometheus-stack selects ServiceMonitors and PrometheusRules by the same
    `release` label: the documented install must label both, or no alert loads."""
    sets = readme_install_sets()
    assert any(s.startswith("metrics.serviceMonitor.labels.release=") for s in sets), sets
    arguments = [arg for value in sets for arg in ("--set", value)]
    result = run_helm("template", RELEASE, str(CHART), *arguments)
    assert result.returncode == 0, result.stderr
    objects = documents(result.stdout)
    (rule,) = of_kind(objects, "PrometheusRule")
    monitors = of_kind(objects, "ServiceMonitor")
    assert monitors
    for monitor in monitors:
        wanted = {k: v for k, v in monitor["metadata"]["labels"].items() if k == "release"}
        assert wanted, f"{monitor['metadata']['name']} has no release label"
        assert wanted.items() <= rule["metadata"]["labels"].items(), rule["metadata"]["labels"]
    own = run_helm(
        "template", RELEASE, str(CHART), *arguments,
        "--set", "metrics.prometheusRule.labels.release=rules-only",
    )  # fmt: skip
    (rule,) = of_kind(documents(own.stdout), "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "rules-only"


def test_monitoring_can_be_switched_off(rendered: dict[str, list[dict[str, Any]]]) -> None:
    kinds = {obj["kind"] for obj in rendered["monitoring-off"]}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "NetworkPolicy"}
    assert not [
        cm
        for cm in of_kind(rendered["monitoring-off"], "ConfigMap")
        if "dashboard" in cm["metadata"]["name"]
    ]


# --- components ------------------------------------------------------------------------


def test_one_chart_installs_the_whole_system(defaults: list[dict[str, Any]]) -> None:
    deployments = {d["metadata"]["name"] for d in of_kind(defaults, "Deployment")}
    assert deployments == {component(c) for c in (*COMPONENTS, "webhook-dispatcher")}
    services = {s["metadata"]["name"] for s in of_kind(defaults, "Service")}
    assert {component(c) for c in (*COMPONENTS, "redis")} <= services
    assert [s["metadata"]["name"] for s in of_kind(defaults, "StatefulSet")] == [component("redis")]
    assert not [
        d for d in of_kind(defaults, "Deployment") if "provider-sim" in d["metadata"]["name"]
    ]
    assert not of_kind(defaults, "Ingress")
    assert not of_kind(defaults, "Secret"), "defaults must read operator-made Secrets"


def test_provider_sim_is_optional_and_replaces_the_providers(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objects = rendered["everything-on"]
    named(objects, "Deployment", component("provider-sim"))
    named(objects, "Service", component("provider-sim"))
    agent = next(containers(named(objects, "Deployment", component("agent-worker"))))
    env = env_of(agent)
    sim = f"http://{component('provider-sim')}:8090"
    assert env["OPENAI_BASE_URL"]["value"] == f"{sim}/v1"
    assert env["DEEPGRAM_BASE_URL"]["value"] == f"{sim}/v1/listen"
    assert env["CARTESIA_BASE_URL"]["value"] == sim
    default_agent = next(
        containers(named(rendered["defaults"], "Deployment", component("agent-worker")))
    )
    assert (
        not {"OPENAI_BASE_URL", "DEEPGRAM_BASE_URL", "CARTESIA_BASE_URL"}
        & env_of(default_agent).keys()
    )


def test_token_service_dispatches_the_agent_the_workers_register(
    defaults: list[dict[str, Any]],
) -> None:
    token = env_of(next(containers(named(defaults, "Deployment", component("token-service")))))
    agent = env_of(next(containers(named(defaults, "Deployment", component("agent-worker")))))
    assert token["AGENT_NAME"]["value"] == agent["AGENT_NAME"]["value"]
    assert agent["DEFAULT_CLINIC_ID"]["value"] in token["CLINIC_IDS"]["value"].split(",")
    assert agent["SCHEDULING_API_URL"]["value"] == f"http://{component('scheduling-api')}:8000"
    assert token["LIVEKIT_URL"]["value"] == agent["LIVEKIT_URL"]["value"]


@pytest.mark.parametrize("name", VALUE_SETS)
def test_services_select_pods_and_name_real_ports(
    name: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    objects = rendered[name]
    workloads = [w for w in objects if w["kind"] in {"Deployment", "StatefulSet"}]
    for service in of_kind(objects, "Service"):
        selector = service["spec"]["selector"]
        targets = [w for w in workloads if selector.items() <= pod_labels(w).items()]
        assert len(targets) == 1, f"Service {service['metadata']['name']} selects {len(targets)}"
        container_ports = {
            port["name"] for c in containers(targets[0]) for port in c.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in container_ports


def test_image_tags_default_to_the_app_version(
    defaults: list[dict[str, Any]], values_dir: Path
) -> None:
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    for deployment in of_kind(defaults, "Deployment"):
        image = next(containers(deployment))["image"]
        assert image.endswith(f":{app_version}"), image
    pinned = run_helm("template", RELEASE, str(CHART), "--set", "agentWorker.image.tag=1.2.3-rc1")
    assert "ghcr.io/bright-smile/agent-worker:1.2.3-rc1" in pinned.stdout


# --- policy: every container ------------------------------------------------------------


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_container_is_sized_probed_and_locked_down(
    name: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    problems = []
    for workload in rendered[name]:
        if workload["kind"] not in WORKLOAD_KINDS:
            continue
        spec = pod_spec(workload)
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        pod_security = spec.get("securityContext", {})
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: mounts a service account token")
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        claims = {c["metadata"]["name"] for c in workload["spec"].get("volumeClaimTemplates", [])}
        for container in containers(workload):
            at = f"{where}/{container['name']}"
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(bound, {}):
                        problems.append(f"{at}: no {bound}.{resource}")
            if not is_helm_test(workload):
                for probe in ("livenessProbe", "readinessProbe"):
                    if probe not in container:
                        problems.append(f"{at}: no {probe}")
            security = {**pod_security, **container.get("securityContext", {})}
            if security.get("runAsNonRoot") is not True:
                problems.append(f"{at}: runAsNonRoot is not true")
            if not isinstance(security.get("runAsUser"), int) or security["runAsUser"] == 0:
                problems.append(f"{at}: runAsUser is not a numeric non-root uid")
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{at}: root filesystem is writable")
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{at}: allowPrivilegeEscalation is not false")
            if security.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{at}: capabilities are not dropped (ALL)")
            if security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
                problems.append(f"{at}: seccomp profile is not RuntimeDefault")
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            for mount_name in mounts.values():
                if mount_name not in volumes and mount_name not in claims:
                    problems.append(f"{at}: mounts unknown volume {mount_name}")
            if "emptyDir" not in volumes.get(mounts.get("/tmp", ""), {}):
                problems.append(f"{at}: /tmp is not a writable emptyDir")
    assert not problems, "\n".join(problems)


def test_agent_worker_has_writable_metrics_and_shared_memory(
    defaults: list[dict[str, Any]],
) -> None:
    deployment = named(defaults, "Deployment", component("agent-worker"))
    container = next(containers(deployment))
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    multiproc_dir = env_of(container)["PROMETHEUS_MULTIPROC_DIR"]["value"]
    assert "emptyDir" in mounts[multiproc_dir]
    assert mounts[multiproc_dir] is not mounts["/tmp"]
    assert mounts["/dev/shm"]["emptyDir"]["medium"] == "Memory"


def test_agent_worker_probes_its_health_server(defaults: list[dict[str, Any]]) -> None:
    container = next(containers(named(defaults, "Deployment", component("agent-worker"))))
    health_port = int(env_of(container)["HEALTH_PORT"]["value"])
    named_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert named_ports["health"] == health_port == 8081
    assert named_ports["metrics"] == int(env_of(container)["PROMETHEUS_PORT"]["value"]) == 9100
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/", "port": "health"}


@pytest.mark.parametrize("service", ["scheduling-api", "token-service"])
def test_api_probes_use_healthz_and_readyz(service: str, defaults: list[dict[str, Any]]) -> None:
    container = next(containers(named(defaults, "Deployment", component(service))))
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


@pytest.mark.parametrize("service", ["scheduling-api", "token-service"])
def test_apis_keep_serving_until_their_endpoint_is_gone(
    service: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    """A preStop delay lets the endpoint removal reach kube-proxy and the ingress
    controller before the server stops, so rollouts do not answer 502."""
    for objects in rendered.values():
        deployment = named(objects, "Deployment", component(service))
        container = next(containers(deployment))
        command = container["lifecycle"]["preStop"]["exec"]["command"]
        program, seconds = command
        assert program == "sleep"
        assert 5 <= int(seconds) <= pod_spec(deployment)["terminationGracePeriodSeconds"] - 15


def test_agent_grace_period_outlasts_the_drain(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for objects in rendered.values():
        deployment = named(objects, "Deployment", component("agent-worker"))
        drain = int(env_of(next(containers(deployment)))["DRAIN_TIMEOUT_SECONDS"]["value"])
        grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
        assert drain == 600
        assert grace > drain
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_agent_worker_sizing_follows_livekit_guidance(defaults: list[dict[str, Any]]) -> None:
    resources = next(containers(named(defaults, "Deployment", component("agent-worker"))))[
        "resources"
    ]
    # 4 cores / 8 GB per 10-25 sessions; CPU request = limit so the load it reports is real.
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"] == "4"
    assert resources["limits"]["memory"] == "8Gi"


# --- policy: availability -------------------------------------------------------------------


def test_pdbs_cover_every_component(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for objects in rendered.values():
        workloads = {
            pod_labels(d)["app.kubernetes.io/component"]: d for d in of_kind(objects, "Deployment")
        }
        for name in COMPONENTS:
            pdb = named(objects, "PodDisruptionBudget", component(name))
            selector = pdb["spec"]["selector"]["matchLabels"]
            assert selector.items() <= pod_labels(workloads[name]).items()
            assert pdb["spec"]["maxUnavailable"] == 1


def test_hpas_scale_each_component(defaults: list[dict[str, Any]]) -> None:
    for name in COMPONENTS:
        hpa = named(defaults, "HorizontalPodAutoscaler", component(name))
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": component(name),
        }
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        # An HPA owns the replica count: the Deployment must not fight it.
        assert "replicas" not in named(defaults, "Deployment", component(name))["spec"]


def test_agent_hpa_scales_up_fast_down_slowly_below_the_cpu_guard(
    defaults: list[dict[str, Any]],
) -> None:
    hpa = named(defaults, "HorizontalPodAutoscaler", component("agent-worker"))
    container = next(containers(named(defaults, "Deployment", component("agent-worker"))))
    cpu_guard = float(env_of(container)["CPU_LOAD_LIMIT"]["value"])
    (metric,) = hpa["spec"]["metrics"]
    target = metric["resource"]["target"]["averageUtilization"] / 100
    # Utilisation is relative to the request, the worker's load to the limit.
    request_over_limit = float(container["resources"]["requests"]["cpu"]) / float(
        container["resources"]["limits"]["cpu"]
    )
    assert target * request_over_limit < cpu_guard
    behavior = hpa["spec"]["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300
    assert behavior["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 180}]


def test_agent_hpa_can_use_the_worker_load_metric(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    hpa = named(rendered["everything-on"], "HorizontalPodAutoscaler", component("agent-worker"))
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == "receptionist_worker_capacity_used_ratio"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "500m"}


def test_autoscaling_off_sets_fixed_replicas(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["autoscaling-off"]
    assert not of_kind(objects, "HorizontalPodAutoscaler")
    for name in COMPONENTS:
        assert named(objects, "Deployment", component(name))["spec"]["replicas"] == 3


# --- secrets ---------------------------------------------------------------------------------

SECRET_ENV = re.compile(r"(_KEY|_KEYS|_SECRET|_TOKEN|_TOKENS|_PASSWORD)$")


@pytest.mark.parametrize("name", VALUE_SETS)
def test_credentials_reach_pods_only_through_secret_refs(
    name: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    for workload in rendered[name]:
        if workload["kind"] not in WORKLOAD_KINDS:
            continue
        for container in containers(workload):
            for var, entry in env_of(container).items():
                if SECRET_ENV.search(var) or (var == "REDIS_URL" and "value" not in entry):
                    assert "secretKeyRef" in entry.get("valueFrom", {}), (
                        f"{var} is not from a Secret"
                    )
                if var == "REDIS_URL" and "value" in entry:
                    # Built from REDIS_PASSWORD by Kubernetes; never a literal password.
                    assert re.fullmatch(
                        r"redis://(:\$\(REDIS_PASSWORD\)@)?[a-z0-9-]+:6379/0", entry["value"]
                    )


def test_secret_values_appear_only_in_secret_objects(
    rendered: dict[str, list[dict[str, Any]]], values_dir: Path
) -> None:
    for name in ("created-secrets", "created-external-redis"):
        objects = rendered[name]
        secret_text = "\n".join(
            base64.b64decode(value).decode()
            for secret in of_kind(objects, "Secret")
            for value in secret["data"].values()
        )
        others = "\n".join(yaml.safe_dump(obj) for obj in objects if obj["kind"] != "Secret")
        used = [value for value in FAKE.values() if value in yaml.safe_dump(VALUE_SETS[name])]
        assert used
        for value in used:
            assert value in secret_text, f"{value} missing from the Secrets"
            encoded = base64.b64encode(value.encode()).decode()
            assert value not in others, f"{value} leaked outside Secrets"
            assert encoded not in others, f"{value} (base64) leaked outside Secrets"
    secrets = {
        s["metadata"]["name"]: s["data"] for s in of_kind(rendered["created-secrets"], "Secret")
    }
    tokens = base64.b64decode(secrets[component("scheduling")]["SCHEDULING_API_TOKENS"]).decode()
    assert tokens.split(",") == [FAKE["agent_token"], FAKE["backoffice_token"]]


def test_existing_secrets_are_read_and_nothing_is_created(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    objects = rendered["existing-secrets"]
    assert not of_kind(objects, "Secret")
    referenced = {
        entry["valueFrom"]["secretKeyRef"]["name"]
        for workload in objects
        if workload["kind"] in WORKLOAD_KINDS
        for container in containers(workload)
        for entry in container.get("env", [])
        if "secretKeyRef" in entry.get("valueFrom", {})
    }
    assert referenced == {"lk-creds", "provider-creds", "sched-creds", "token-creds", "redis-creds"}


def test_token_service_api_keys_are_optional(defaults: list[dict[str, Any]]) -> None:
    container = next(containers(named(defaults, "Deployment", component("token-service"))))
    ref = env_of(container)["TOKEN_SERVICE_API_KEYS"]["valueFrom"]["secretKeyRef"]
    assert ref["optional"] is True


def test_external_redis_url_comes_from_a_secret(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["external-redis"]
    assert not of_kind(objects, "StatefulSet")
    for name in ("scheduling-api", "token-service"):
        container = next(containers(named(objects, "Deployment", component(name))))
        ref = env_of(container)["REDIS_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "my-redis", "key": "REDIS_URL"}


# --- redis -------------------------------------------------------------------------------------


def test_bundled_redis_is_durable(defaults: list[dict[str, Any]]) -> None:
    config = named(defaults, "ConfigMap", component("redis"))["data"]["redis.conf"].splitlines()
    assert "appendonly yes" in config
    assert "appendfsync always" in config
    assert "maxmemory-policy noeviction" in config
    statefulset = named(defaults, "StatefulSet", component("redis"))
    assert statefulset["spec"]["replicas"] == 1
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    mounts = {m["mountPath"]: m["name"] for m in next(containers(statefulset))["volumeMounts"]}
    assert mounts["/data"] == claim["metadata"]["name"]
    annotations = statefulset["spec"]["template"]["metadata"]["annotations"]
    expected = hashlib.sha256(
        named(defaults, "ConfigMap", component("redis"))["data"]["redis.conf"].rstrip("\n").encode()
    ).hexdigest()
    assert annotations["checksum/config"] == expected


MEMORY_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3}
QUANTITY_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "M": 1000**2, "G": 1000**3}


def test_bundled_redis_is_not_evicted_and_its_fork_fits_the_limit(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    defaults = rendered["defaults"]
    statefulset = named(defaults, "StatefulSet", component("redis"))
    pdb = named(defaults, "PodDisruptionBudget", component("redis"))
    assert pdb["spec"]["maxUnavailable"] == 0
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels(statefulset).items()
    assert not [
        p for p in of_kind(rendered["external-redis"], "PodDisruptionBudget") if "redis" in str(p)
    ]
    # An AOF rewrite forks Redis; pages written during it are copied, so the data can
    # need twice its size, plus allocator overhead (~25%).
    config = named(defaults, "ConfigMap", component("redis"))["data"]["redis.conf"]
    number, unit = re.search(r"^maxmemory (\d+)([a-z]*)$", config, re.M).groups()  # type: ignore[union-attr]
    maxmemory = int(number) * MEMORY_UNITS[unit]
    limit = next(containers(statefulset))["resources"]["limits"]["memory"]
    amount, suffix = re.fullmatch(r"(\d+)([A-Za-z]*)", limit).groups()  # type: ignore[union-attr]
    assert 2 * maxmemory * 1.25 <= int(amount) * QUANTITY_UNITS[suffix], (maxmemory, limit)


# --- clinics ------------------------------------------------------------------------------------


def test_chart_clinic_copy_matches_the_service_default() -> None:
    service_files = {p.name: p.read_bytes() for p in SERVICE_CLINICS.glob("*.yaml")}
    chart_files = {p.name: p.read_bytes() for p in (CHART / "files" / "clinics").glob("*.yaml")}
    assert service_files, f"no clinic files in {SERVICE_CLINICS}"
    assert chart_files == service_files, (
        "deploy/helm/bright-smile/files/clinics differs from the scheduling API's default "
        "clinic files: run `make manifests`"
    )


def test_clinic_configmap_ships_the_files_and_rolls_the_api(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    defaults = rendered["defaults"]
    data = named(defaults, "ConfigMap", component("clinics"))["data"]
    for path in SERVICE_CLINICS.glob("*.yaml"):
        assert data[path.name] == path.read_text()
    extended = rendered["everything-on"]
    assert named(extended, "ConfigMap", component("clinics"))["data"]["second-clinic.yaml"]

    def checksum(objects: list[dict[str, Any]]) -> str:
        deployment = named(objects, "Deployment", component("scheduling-api"))
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/clinics"])

    assert checksum(defaults) != checksum(extended)
    assert checksum(defaults) == checksum(rendered["ingress-on"])
    container = next(containers(named(defaults, "Deployment", component("scheduling-api"))))
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env_of(container)["CLINICS_CONFIG"]["value"] == mounts["clinics"]


# --- network -----------------------------------------------------------------------------------


def peers_selecting(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]


def test_scheduling_api_admits_only_agents_backends_prometheus_and_tests(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for name, extra in (("defaults", 0), ("everything-on", 1)):
        policy = named(rendered[name], "NetworkPolicy", component("scheduling-api"))
        for rule in policy["spec"]["ingress"]:
            assert rule.get("from"), "an ingress rule without `from` admits everyone"
        components = {
            peer["podSelector"]["matchLabels"].get("app.kubernetes.io/component")
            for peer in peers_selecting(policy)
            if "namespaceSelector" not in peer
        }
        assert components == {"agent-worker", "helm-test"}
        prometheus = [
            p
            for p in peers_selecting(policy)
            if "namespaceSelector" in p
            and "podSelector" in p
            and p["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
            == "prometheus"
        ]
        assert len(prometheus) == 1
        assert len(peers_selecting(policy)) == 3 + extra


def test_token_service_is_reached_through_the_ingress_controller(
    defaults: list[dict[str, Any]],
) -> None:
    policy = named(defaults, "NetworkPolicy", component("token-service"))
    namespaces = [
        p.get("namespaceSelector", {}).get("matchLabels") for p in peers_selecting(policy)
    ]
    assert {"kubernetes.io/metadata.name": "ingress-nginx"} in namespaces


def test_agent_egress_reaches_dns_the_api_and_livekit(defaults: list[dict[str, Any]]) -> None:
    policy = named(defaults, "NetworkPolicy", component("agent-worker"))
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    egress = policy["spec"]["egress"]
    ports = {(p["protocol"], p["port"]) for rule in egress for p in rule.get("ports", [])}
    assert {("UDP", 53), ("TCP", 53), ("TCP", 8000), ("TCP", 443), ("TCP", 7880)} <= ports
    api_rule = next(r for r in egress if {"protocol": "TCP", "port": 8000} in r.get("ports", []))
    assert (
        api_rule["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        == "scheduling-api"
    )
    ingress_ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert ingress_ports == {"metrics", "health"}


LIVEKIT_PORTS = {
    ("TCP", 7880, None),  # signalling
    ("TCP", 7881, None),  # WebRTC over TCP
    ("UDP", 7882, None),  # WebRTC media (single port)
    ("UDP", 50000, 60000),  # WebRTC media (port range)
    ("UDP", 3478, None),  # TURN
    ("TCP", 5349, None),  # TURN over TLS
    ("TCP", 443, None),  # TURN over TLS on 443, and the providers' HTTPS
}


def test_agent_egress_reaches_livekit_wherever_it_runs(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """On Cilium-based plugins an ipBlock (even 0.0.0.0/0) never matches pods or nodes, so
    the rule that lets workers reach LiveKit must not depend on one."""
    for name in ("defaults", "everything-on"):
        egress = named(rendered[name], "NetworkPolicy", component("agent-worker"))["spec"]["egress"]
        open_rules = [rule for rule in egress if not rule.get("to")]
        reachable = {
            (p["protocol"], p["port"], p.get("endPort"))
            for rule in open_rules
            for p in rule.get("ports", [])
        }
        missing = LIVEKIT_PORTS - reachable
        assert not missing, (
            f"{name}: LiveKit/TURN ports reachable only through an ipBlock: {missing}"
        )


def test_redis_admits_only_the_two_apis_and_the_dispatcher(defaults: list[dict[str, Any]]) -> None:
    policy = named(defaults, "NetworkPolicy", component("redis"))
    components = {
        p["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for p in peers_selecting(policy)
    }
    assert components == {"scheduling-api", "token-service", "webhook-dispatcher"}


def test_webhook_dispatcher_runs_the_api_image_with_the_dispatch_command(
    defaults: list[dict[str, Any]],
) -> None:
    dispatcher = named(defaults, "Deployment", component("webhook-dispatcher"))
    api = named(defaults, "Deployment", component("scheduling-api"))
    (container,) = containers(dispatcher)
    (api_container,) = containers(api)
    assert container["image"] == api_container["image"]
    assert container["args"] == ["dispatch"]
    env = {e["name"]: e for e in container["env"]}
    assert env["DISPATCH_RETRY_HORIZON_SECONDS"]["value"] == "86400"
    assert env["REDIS_URL"] == {e["name"]: e for e in api_container["env"]}["REDIS_URL"]
    assert dispatcher["spec"]["replicas"] == 2
    monitor = named(defaults, "ServiceMonitor", component("webhook-dispatcher"))
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    budget = named(defaults, "PodDisruptionBudget", component("webhook-dispatcher"))
    assert budget["spec"]["maxUnavailable"] == 1


def test_webhook_dispatcher_egress_is_dns_redis_and_public_https(
    defaults: list[dict[str, Any]],
) -> None:
    policy = named(defaults, "NetworkPolicy", component("webhook-dispatcher"))
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    (metrics_in,) = policy["spec"]["ingress"]
    assert metrics_in["ports"] == [{"protocol": "TCP", "port": "metrics"}]
    dns, redis, https = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert redis["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "redis"
    assert https["ports"] == [{"protocol": "TCP", "port": 443}]
    block = https["to"][0]["ipBlock"]
    assert block["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "169.254.0.0/16", "192.168.0.0/16"} <= set(block["except"])


def test_yaml_declared_webhook_secrets_reach_the_api_from_a_secret() -> None:
    objects = render_chart("--set", "schedulingApi.webhookSecretsSecret=clinic-webhooks")
    (container,) = containers(named(objects, "Deployment", component("scheduling-api")))
    assert container["envFrom"] == [{"secretRef": {"name": "clinic-webhooks"}}]


def test_webhook_egress_can_be_narrowed_and_the_dispatcher_switched_off(values_dir: Path) -> None:
    narrowed = [{"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"port": 443}]}]
    objects = render_chart(
        "--set-json",
        f"webhookDispatcher.networkPolicy.webhookEgress={json.dumps(narrowed)}",
    )
    policy = named(objects, "NetworkPolicy", component("webhook-dispatcher"))
    assert policy["spec"]["egress"][-1] == narrowed[0]
    off = render_chart("--set", "webhookDispatcher.enabled=false")
    assert not [o for o in off if "webhook-dispatcher" in o["metadata"]["name"]]
    assert "BrightSmileWebhookBacklog" not in json.dumps(of_kind(off, "PrometheusRule"))


# --- ingress, hooks, dashboards, notes ---------------------------------------------------------


def test_ingress_routes_to_the_token_service(rendered: dict[str, list[dict[str, Any]]]) -> None:
    ingress = named(rendered["ingress-on"], "Ingress", component("token-service"))
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["call.clinic.example"], "secretName": "call-tls"}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "call.clinic.example"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": component("token-service"), "port": {"name": "http"}}
    container = next(
        containers(named(rendered["ingress-on"], "Deployment", component("token-service")))
    )
    assert env_of(container)["CORS_ALLOW_ORIGINS"]["value"] == "https://www.clinic.example"


def ingress_routes(ingress: dict[str, Any], path: str) -> bool:
    """Whether a request path reaches the backend (Kubernetes' Exact and Prefix rules;
    ImplementationSpecific taken as the widest reading, a plain string prefix)."""
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            route, kind = entry["path"], entry["pathType"]
            if kind == "Exact" and path == route:
                return True
            if kind == "Prefix":
                segments = [part for part in route.split("/") if part]
                if path.split("/")[1 : len(segments) + 1] == segments:
                    return True
            if kind == "ImplementationSpecific" and path.startswith(route):
                return True
    return False


def test_ingress_exposes_only_the_public_paths(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    from token_service.api.token import ISSUE_ROUTE

    ingress = named(rendered["ingress-on"], "Ingress", component("token-service"))
    web_files = [f"/{p.name}" for p in (REPO_ROOT / "web" / "dist").glob("*") if p.is_file()]
    public = ["/", ISSUE_ROUTE, "/index.html", "/app.js", "/app.css", "/embed.js", *web_files]
    for path in public:
        assert ingress_routes(ingress, path), f"{path} is not routed"
    for path in ("/metrics", "/healthz", "/readyz", "/metrics/", "/docs", "/v1"):
        assert not ingress_routes(ingress, path), f"the Ingress makes {path} public"


@pytest.mark.parametrize(
    ("path", "path_type"), [("/", "Prefix"), ("/", "ImplementationSpecific"), ("/healthz", "Exact")]
)
def test_chart_refuses_an_ingress_path_that_exposes_internals(path: str, path_type: str) -> None:
    result = run_helm(
        "template", RELEASE, str(CHART),
        "--set", "tokenService.ingress.enabled=true",
        "--set", f"tokenService.ingress.paths[0].path={path}",
        "--set", f"tokenService.ingress.paths[0].pathType={path_type}",
    )  # fmt: skip
    assert result.returncode != 0
    assert "would make the token service's" in result.stderr


def test_helm_test_hook_reaches_every_service(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, expected in (("defaults", 3), ("everything-on", 4)):
        objects = rendered[name]
        (pod,) = [p for p in of_kind(objects, "Pod") if is_helm_test(p)]
        assert pod["spec"]["restartPolicy"] == "Never"
        env = env_of(next(containers(pod)))
        urls = [entry["value"] for var, entry in env.items() if var.endswith("_URL")]
        urls = [url for url in urls if url.startswith("http://")]
        assert len(urls) == expected
        ports = {
            (svc["metadata"]["name"], port["port"])
            for svc in of_kind(objects, "Service")
            for port in svc["spec"]["ports"]
        }
        for url in urls:
            match = re.fullmatch(r"http://([a-z-]+):(\d+)", url)
            assert match, url
            assert (match.group(1), int(match.group(2))) in ports


def test_dashboards_ship_as_sidecar_configmaps(rendered: dict[str, list[dict[str, Any]]]) -> None:
    dashboards = [
        cm
        for cm in of_kind(rendered["defaults"], "ConfigMap")
        if "dashboard" in cm["metadata"]["name"]
    ]
    assert len(dashboards) == 3
    uids = set()
    for configmap in dashboards:
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((filename, text),) = configmap["data"].items()
        assert filename.endswith(".json")
        uids.add(json.loads(text)["uid"])
    assert len(uids) == 3
    moved = [
        cm
        for cm in of_kind(rendered["everything-on"], "ConfigMap")
        if "dashboard" in cm["metadata"]["name"]
    ]
    assert all(cm["metadata"]["labels"]["grafana_dashboard"] == "yes" for cm in moved)
    assert all(cm["metadata"]["namespace"] == "monitoring" for cm in moved)


def test_latency_dashboard_shows_every_stage_against_the_budget() -> None:
    board = json.loads((CHART / "files" / "dashboards" / "voice-latency.json").read_text())
    panels = [p for p in board["panels"] if p["type"] == "timeseries"]
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    for stage in ("end_of_utterance", "transcription", "llm_ttft", "tts_ttfb", "end_to_end"):
        for quantile in ("0.5", "0.95", "0.99"):
            assert re.search(rf'histogram_quantile\({quantile}, [^\n]*stage="{stage}"', exprs), (
                f"no p{quantile} panel for {stage}"
            )
    assert "receptionist_tool_latency_seconds_bucket" in exprs
    for panel in panels:
        if panel["fieldConfig"]["defaults"]["unit"] == "s":
            steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            assert {"color": "red", "value": 0.5} in steps, panel["title"]
            assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"


def install_notes(values_dir: Path, *args: str) -> str:
    result = run_helm(
        "install", RELEASE, str(CHART), "--dry-run=client", "-n", "clinic", *args
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.split("NOTES:", 1)[1]


def test_notes_tell_how_to_reach_the_token_endpoint_and_dashboards(values_dir: Path) -> None:
    notes = install_notes(values_dir, "-f", str(values_file(values_dir, "ingress-on")))
    assert "https://call.clinic.example/v1/token" in notes
    assert "bright-smile-voice-latency" in notes
    assert "kubectl -n clinic create secret generic bright-smile-livekit" in notes


SECRET_NAMES = ("livekit", "providers", "scheduling", "token-keys", "redis-auth")


def test_notes_always_list_every_secret_and_who_creates_it(values_dir: Path) -> None:
    for args, created in (
        ((), ()),
        (("-f", str(values_file(values_dir, "created-secrets"))), SECRET_NAMES),
    ):
        notes = install_notes(values_dir, *args)
        listed = dict(re.findall(r"^ {5}bright-smile-([a-z-]+): (.*)$", notes, re.M))
        assert set(listed) == set(SECRET_NAMES), notes
        for name in SECRET_NAMES:
            if name in created:
                assert listed[name].startswith("created by this chart"), listed[name]
            elif name == "token-keys":
                assert listed[name].startswith("not set"), listed[name]
            else:
                assert listed[name].startswith("YOU CREATE IT"), listed[name]
                assert f"create secret generic bright-smile-{name} " in notes
        if created:
            assert "create secret generic" not in notes
    existing = install_notes(values_dir, "-f", str(values_file(values_dir, "existing-secrets")))
    assert "lk-creds: your existing Secret" in existing
    external = install_notes(values_dir, "-f", str(values_file(values_dir, "external-redis")))
    assert "my-redis: your existing Secret (REDIS_URL)" in external


def test_notes_flag_every_placeholder_still_in_use(values_dir: Path) -> None:
    defaults = install_notes(
        values_dir, "--set", "tokenService.ingress.enabled=true"
    )  # fmt: skip
    warnings = re.findall(r"^ {3}WARNING: (\S+)", defaults, re.M)
    assert warnings == [
        "livekit.url", "image.registry", "tokenService.ingress.hosts", "tokenService.ingress.tls"
    ], defaults  # fmt: skip
    site = json.loads(json.dumps(VALUE_SETS["ingress-on"]))
    site["tokenService"]["ingress"]["hosts"][0]["host"] = "call.clinic.internal"
    site_file = values_dir / "site.yaml"
    site_file.write_text(yaml.safe_dump(site))
    real = install_notes(
        values_dir,
        "-f", str(site_file),
        "--set", "livekit.url=wss://livekit.clinic.internal",
        "--set", "image.registry=registry.clinic.internal/bright-smile",
    )  # fmt: skip
    assert "WARNING" not in real, real
    assert "PLACEHOLDERS" not in real, real
    copied = install_notes(values_dir, "--set", "image.registry=<your registry>")
    assert "image.registry is the placeholder <your registry>" in copied


def test_slot_id_secret_length_is_the_one_the_api_enforces(values_dir: Path) -> None:
    config = (
        REPO_ROOT / "services" / "scheduling-api" / "src" / "scheduling_api" / "config.py"
    ).read_text()
    match = re.search(r"^MIN_SLOT_SECRET_LENGTH = (\d+)$", config, re.M)
    assert match
    length = f"{match.group(1)}+"
    docs = {
        "NOTES.txt": install_notes(values_dir),
        "deploy/README.md": (REPO_ROOT / "deploy" / "README.md").read_text(),
        "values.yaml": (CHART / "values.yaml").read_text(),
    }
    for name, text in docs.items():
        stated = re.findall(r"SLOT_ID_SECRET[^\n]*?(\d+\+)", text)
        stated += re.findall(r"slot ids, (\d+\+)", text)
        assert stated, f"{name} does not say how long SLOT_ID_SECRET must be"
        assert set(stated) == {length}, f"{name} says {stated}, the API enforces {length}"


# --- plain manifests ---------------------------------------------------------------------------


def test_plain_manifests_match_a_fresh_render() -> None:
    helm_binary()
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "render-manifests.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_plain_manifests_hold_no_secrets_and_separate_monitoring() -> None:
    manifests = REPO_ROOT / "deploy" / "k8s"

    def objects_in(directory: Path) -> list[dict[str, Any]]:
        return [
            doc
            for path in directory.glob("*.yaml")
            if path.name != "kustomization.yaml"
            for doc in documents(path.read_text())
        ]

    app, monitoring = objects_in(manifests), objects_in(manifests / "monitoring")
    kinds = {doc["kind"] for doc in app}
    assert "Secret" not in kinds
    assert not kinds & {"ServiceMonitor", "PrometheusRule"}
    assert {"ServiceMonitor", "PrometheusRule", "ConfigMap"} <= {doc["kind"] for doc in monitoring}
    assert not [doc for doc in app if is_helm_test(doc)]
