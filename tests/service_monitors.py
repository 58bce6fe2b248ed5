"""The scrape configuration a Prometheus Operator generates from the chart's
ServiceMonitors, for a Prometheus that scrapes local processes instead of pods.

Each ServiceMonitor endpoint becomes one scrape job. Its target carries the meta labels
Kubernetes endpointslice discovery would give the pod behind the selected Service's port
(derived from the rendered Service and Deployment), and the operator's relabelling turns
them into `namespace`, `service`, `pod`, `container`, `job` and `endpoint`: the labels the
dashboards and alerts select on.
"""

from __future__ import annotations

import re
from typing import Any

from helm_chart import of_kind

COMPONENT_LABEL = "app.kubernetes.io/component"


def label_name(key: str) -> str:
    """A Kubernetes label key as Prometheus service discovery spells it in meta labels."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def operator_relabelings(monitor: dict[str, Any], port: str) -> list[dict[str, Any]]:
    """The relabel_configs the Prometheus Operator generates for a ServiceMonitor endpoint
    (keep the selected Services and port; name the target after namespace, Service, pod,
    container and port; the job after the Service, or its `jobLabel` label)."""
    keep = [
        {
            "action": "keep",
            "source_labels": [
                f"__meta_kubernetes_service_label_{label_name(key)}",
                f"__meta_kubernetes_service_labelpresent_{label_name(key)}",
            ],
            "regex": f"({re.escape(value)});true",
        }
        for key, value in monitor["spec"]["selector"]["matchLabels"].items()
    ]
    job_label = monitor["spec"].get("jobLabel")
    job_source = (
        f"__meta_kubernetes_service_label_{label_name(job_label)}"
        if job_label
        else "__meta_kubernetes_service_name"
    )
    return [
        *keep,
        {
            "action": "keep",
            "source_labels": ["__meta_kubernetes_endpointslice_port_name"],
            "regex": re.escape(port),
        },
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": [job_source], "target_label": "job", "replacement": "${1}"},
        {"target_label": "endpoint", "replacement": port},
    ]


def discovered_labels(
    service: dict[str, Any], workload: dict[str, Any], port_name: str, namespace: str
) -> dict[str, str]:
    """The meta labels Kubernetes endpointslice discovery gives the pod behind `port_name`
    of `service` (one pod of `workload`)."""
    [port] = [p for p in service["spec"]["ports"] if p["name"] == port_name]
    pod = workload["spec"]["template"]
    [container] = [
        c
        for c in pod["spec"]["containers"]
        for p in c.get("ports", [])
        if port["targetPort"] in (p.get("name"), p["containerPort"])
    ]
    labels = {
        "__meta_kubernetes_namespace": namespace,
        "__meta_kubernetes_service_name": service["metadata"]["name"],
        "__meta_kubernetes_endpointslice_port_name": port_name,
        "__meta_kubernetes_pod_name": f"{workload['metadata']['name']}-loopback",
        "__meta_kubernetes_pod_container_name": container["name"],
    }
    for key, value in service["metadata"]["labels"].items():
        labels[f"__meta_kubernetes_service_label_{label_name(key)}"] = value
        labels[f"__meta_kubernetes_service_labelpresent_{label_name(key)}"] = "true"
    return labels


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def scrape_configs(
    objects: list[dict[str, Any]], namespace: str, addresses: dict[str, str]
) -> list[Any]:
    """One scrape job per ServiceMonitor endpoint, its target the local process of the
    component (`addresses`: component -> host:port) behind the Service it selects."""
    jobs = []
    for monitor in of_kind(objects, "ServiceMonitor"):
        name = monitor["metadata"]["name"]
        selector = monitor["spec"]["selector"]["matchLabels"]
        services = [
            s for s in of_kind(objects, "Service") if selects(selector, s["metadata"]["labels"])
        ]
        services = [s for s in services if s["spec"].get("clusterIP") != "None"]
        assert len(services) == 1, f"ServiceMonitor {name} selects {len(services)} Services"
        [service] = services
        [workload] = [
            w
            for w in of_kind(objects, "Deployment")
            if selects(service["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])
        ]
        component = service["metadata"]["labels"][COMPONENT_LABEL]
        assert component in addresses, f"no local process for {component} ({name})"
        for index, endpoint in enumerate(monitor["spec"]["endpoints"]):
            jobs.append(
                {
                    "job_name": f"serviceMonitor/{namespace}/{name}/{index}",
                    "metrics_path": endpoint.get("path", "/metrics"),
                    "static_configs": [
                        {
                            "targets": [addresses[component]],
                            "labels": discovered_labels(
                                service, workload, endpoint["port"], namespace
                            ),
                        }
                    ],
                    "relabel_configs": operator_relabelings(monitor, endpoint["port"]),
                }
            )
    return jobs
