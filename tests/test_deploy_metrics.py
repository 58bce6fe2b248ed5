"""Dashboards and alerts query only what the services really export.

The scheduling API, the token service and an agent worker registered with a real
LiveKit server are started as processes, exercised a little, and scraped. Every PromQL
expression of the Grafana dashboards and of the PrometheusRule is parsed with a real
PromQL parser; each metric it selects must be a series name found in those scrapes,
each label it filters or groups by must exist on that metric, and each literal label
value must be one the service emits. Nothing is compared against a hand-kept list.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from call_sim.stack import free_port, scheduling_api_env
from prometheus_client.parser import text_string_to_metric_families

try:
    import promql_parser
except ImportError:  # pragma: no cover - a missing dev dependency must fail, not skip
    promql_parser = None

REPO_ROOT = Path(__file__).resolve().parent.parent
CHART = REPO_ROOT / "deploy" / "helm" / "bright-smile"
DASHBOARDS = CHART / "files" / "dashboards"
RULES = REPO_ROOT / "deploy" / "k8s" / "monitoring" / "prometheusrule-bright-smile.yaml"
# Labels Prometheus attaches to every scraped series from its target (ServiceMonitor).
TARGET_LABELS = {"namespace", "job", "pod", "instance", "service", "endpoint", "container"}
# Series Prometheus synthesises itself for every target, not exported by a service.
PROMETHEUS_SERIES = {"up"}
SCHEDULING_TOKEN = "deploy-metrics-token-0123456789"
# Variables Grafana substitutes before a query reaches Prometheus.
GRAFANA_VARIABLES = {
    r"\$__rate_interval": "5m",
    r"\$__interval": "1m",
    r"\$\{?namespace\}?": "clinic",
}


@dataclass(frozen=True)
class Selector:
    """One metric selector of a query, with where it came from."""

    origin: str
    metric: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value)


@dataclass(frozen=True)
class Grouping:
    origin: str
    labels: tuple[str, ...]
    metrics: tuple[str, ...]  # the selectors inside the aggregation


def parser() -> Any:
    if promql_parser is None:
        pytest.fail(
            "promql-parser is not installed: run `make setup` (requirements-dev.txt lists "
            "promql-parser)"
        )
    return promql_parser


def parse_query(origin: str, query: str) -> tuple[list[Selector], list[Grouping]]:
    """Selectors and `by (...)` groupings of a PromQL query; fails on invalid PromQL."""
    promql = parser()
    for variable, value in GRAFANA_VARIABLES.items():
        query = re.sub(variable, value, query)
    try:
        tree = promql.parse(query)
    except ValueError as error:
        pytest.fail(f"{origin}: invalid PromQL ({error}):\n{query}")
    selectors: list[Selector] = []
    groupings: list[Grouping] = []

    def selectors_under(node: Any) -> list[str]:
        names: list[str] = []

        def visit(child: Any) -> None:
            if isinstance(child, promql.VectorSelector):
                names.append(child.name)

        promql.walk(node, pre_visit=visit)
        return names

    def visit(node: Any) -> None:
        if isinstance(node, promql.VectorSelector):
            matchers = tuple(
                (m.name, str(m.op).rsplit(".", 1)[-1], m.value) for m in node.matchers.matchers
            )
            selectors.append(Selector(origin, node.name, matchers))
        elif (
            isinstance(node, promql.AggregateExpr)
            and node.modifier is not None
            and str(node.modifier.type).endswith("By")
        ):
            groupings.append(
                Grouping(origin, tuple(node.modifier.labels), tuple(selectors_under(node.expr)))
            )

    promql.walk(tree, pre_visit=visit)
    return selectors, groupings


def dashboard_queries() -> Iterator[tuple[str, str]]:
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        panels = list(board["panels"])
        while panels:
            panel = panels.pop()
            panels.extend(panel.get("panels", []))
            for target in panel.get("targets", []):
                yield f"{path.name} / {panel['title']}", target["expr"]
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"])
                assert match, f"{path.name}: unsupported variable query {variable['definition']}"
                # Grafana's label_values(metric, label) selects metric; check it as one.
                yield (
                    f"{path.name} / ${variable['name']}",
                    f"count by ({match.group(2)}) ({match.group(1)})",
                )


def alert_queries() -> Iterator[tuple[str, str]]:
    rule = yaml.safe_load(RULES.read_text())
    for group in rule["spec"]["groups"]:
        for alert in group["rules"]:
            yield f"alert {alert['alert']}", alert["expr"]


@pytest.fixture(scope="module")
def parsed_queries() -> dict[str, tuple[list[Selector], list[Grouping]]]:
    queries = {"dashboards": list(dashboard_queries()), "alerts": list(alert_queries())}
    assert len(queries["dashboards"]) > 30
    assert len(queries["alerts"]) >= 10
    parsed: dict[str, tuple[list[Selector], list[Grouping]]] = {}
    for source, items in queries.items():
        selectors: list[Selector] = []
        groupings: list[Grouping] = []
        for origin, query in items:
            found, grouped = parse_query(origin, query)
            assert found, f"{origin}: selects no metric"
            selectors += found
            groupings += grouped
        parsed[source] = (selectors, groupings)
    return parsed


# --- the running services ------------------------------------------------------------------


@dataclass
class Exported:
    """Sample names seen in the scrapes, with the label values seen on each."""

    labels: dict[str, dict[str, set[str]]]

    def names(self) -> set[str]:
        return set(self.labels)


def parse_exposition(text: str, into: dict[str, dict[str, set[str]]]) -> None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values = into.setdefault(sample.name, defaultdict(set))
            for label, value in sample.labels.items():
                values[label].add(value)


@pytest.fixture(scope="module")
def exported(
    session_services: Any,
    redis_server: Any,
    livekit_server: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Exported:
    """Scrape /metrics of the services and the webhook dispatcher, running for real, after
    some traffic."""
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/9"
    scheduling = session_services.start(
        ["scheduling-api"],
        name="deploy-metrics-scheduling-api",
        # The clinic file the chart ships, loaded by the real service.
        env=scheduling_api_env(
            redis_url, SCHEDULING_TOKEN, CLINICS_CONFIG=str(CHART / "files" / "clinics")
        ),
    )
    tokens = session_services.start(
        ["token-service"],
        name="deploy-metrics-token-service",
        env={
            "REDIS_URL": redis_url,
            "LIVEKIT_URL": livekit_server.url,
            "LIVEKIT_API_KEY": livekit_server.api_key,
            "LIVEKIT_API_SECRET": livekit_server.api_secret,
        },
    )
    dispatch_port = free_port()
    dispatcher = session_services.start(
        ["scheduling-api", "dispatch"],
        name="deploy-metrics-webhook-dispatcher",
        port=dispatch_port,
        ready_path="/metrics",
        env={"REDIS_URL": redis_url, "DISPATCH_METRICS_PORT": str(dispatch_port)},
    )
    health_port, metrics_port = free_port(), free_port()
    metrics_dir = tmp_path_factory.mktemp("agent-prometheus")
    worker = session_services.start(
        ["agent-worker", "start"],
        name="deploy-metrics-agent-worker",
        port=health_port,
        # What the chart probes: the health server on HEALTH_PORT.
        ready_path="/",
        timeout=60,
        env={
            "HEALTH_PORT": str(health_port),
            "PROMETHEUS_PORT": str(metrics_port),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "NUM_IDLE_PROCESSES": "1",
            "LIVEKIT_URL": livekit_server.url,
            "LIVEKIT_API_KEY": livekit_server.api_key,
            "LIVEKIT_API_SECRET": livekit_server.api_secret,
            "AGENT_NAME": "deploy-metrics-receptionist",
            "SCHEDULING_API_URL": scheduling.base_url,
            "SCHEDULING_API_TOKEN": SCHEDULING_TOKEN,
            # The worker refuses to start without provider keys; no call is made here.
            "DEEPGRAM_API_KEY": "unused-in-this-test",
            "OPENAI_API_KEY": "unused-in-this-test",
            "CARTESIA_API_KEY": "unused-in-this-test",
        },
    )
    try:
        with httpx.Client(timeout=5) as client:
            auth = {"Authorization": f"Bearer {SCHEDULING_TOKEN}"}
            assert client.get(f"{scheduling.base_url}/readyz").status_code == 200
            assert client.get(f"{scheduling.base_url}/v1/clinics", headers=auth).status_code == 200
            assert client.get(f"{scheduling.base_url}/v1/clinics").status_code == 401
            assert client.get(f"{tokens.base_url}/readyz").status_code == 200
            assert client.post(f"{tokens.base_url}/v1/token", content=b"{").status_code < 500
            assert client.get(f"http://127.0.0.1:{health_port}/").status_code == 200

            scraped: dict[str, dict[str, set[str]]] = {}
            parse_exposition(client.get(f"{scheduling.base_url}/metrics").text, scraped)
            parse_exposition(client.get(f"{tokens.base_url}/metrics").text, scraped)
            parse_exposition(client.get(f"{dispatcher.base_url}/metrics").text, scraped)
            # Worker gauges appear with the first load report; job processes register
            # their series when they start.
            wanted = {"lk_agents_worker_load", "receptionist_stage_latency_seconds_bucket"}
            deadline = time.monotonic() + 30
            while True:
                agent: dict[str, dict[str, set[str]]] = {}
                parse_exposition(client.get(f"http://127.0.0.1:{metrics_port}/metrics").text, agent)
                if wanted <= agent.keys() or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            scraped.update(agent)
    finally:
        for service in (worker, dispatcher, tokens, scheduling):
            service.stop()
    return Exported(labels=scraped)


# --- tests --------------------------------------------------------------------------------


def test_every_service_was_scraped(exported: Exported) -> None:
    for prefix in (
        "scheduling_api_",
        "scheduling_dispatch_",
        "token_service_",
        "receptionist_",
        "lk_agents_",
    ):
        assert any(name.startswith(prefix) for name in exported.names()), f"no {prefix}* series"


@pytest.mark.parametrize("source", ["dashboards", "alerts"])
def test_every_queried_metric_is_exported(
    source: str,
    parsed_queries: dict[str, tuple[list[Selector], list[Grouping]]],
    exported: Exported,
) -> None:
    selectors, _ = parsed_queries[source]
    allowed = exported.names() | (PROMETHEUS_SERIES if source == "alerts" else set())
    unknown = sorted({f"{s.origin}: {s.metric}" for s in selectors if s.metric not in allowed})
    assert not unknown, "metrics no service exports:\n" + "\n".join(unknown)


@pytest.mark.parametrize("source", ["dashboards", "alerts"])
def test_label_filters_match_exported_labels_and_values(
    source: str,
    parsed_queries: dict[str, tuple[list[Selector], list[Grouping]]],
    exported: Exported,
) -> None:
    selectors, _ = parsed_queries[source]
    problems = []
    for selector in selectors:
        if selector.metric in PROMETHEUS_SERIES:
            continue
        labels = exported.labels.get(selector.metric)
        if labels is None:
            continue  # reported by test_every_queried_metric_is_exported
        for label, op, value in selector.matchers:
            if label in TARGET_LABELS:
                continue
            if label not in labels:
                problems.append(f"{selector.origin}: {selector.metric} has no label {label!r}")
                continue
            if op not in {"Equal", "Re"}:
                continue
            wanted = value.split("|") if op == "Re" else [value]
            for one in wanted:
                if label == "status_class":
                    # Classes appear as traffic produces them; check the format only.
                    ok = re.fullmatch(r"[1-5]xx", one) is not None
                else:
                    ok = one in labels[label]
                if not ok:
                    problems.append(
                        f"{selector.origin}: {selector.metric}{{{label}={one!r}}} is never "
                        f"exported (seen: {sorted(labels[label])})"
                    )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("source", ["dashboards", "alerts"])
def test_grouping_labels_exist_on_the_grouped_metrics(
    source: str,
    parsed_queries: dict[str, tuple[list[Selector], list[Grouping]]],
    exported: Exported,
) -> None:
    _, groupings = parsed_queries[source]
    problems = [
        f"{grouping.origin}: by ({label}) but {metric} has no such label"
        for grouping in groupings
        for metric in grouping.metrics
        if metric not in PROMETHEUS_SERIES
        for label in grouping.labels
        if label not in TARGET_LABELS and label not in exported.labels.get(metric, {})
    ]
    assert not problems, "\n".join(problems)


def test_latency_budget_is_a_histogram_bucket_edge(exported: Exported) -> None:
    """histogram_quantile is exact only at bucket edges: the alert's budget must be one."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    budget = values["metrics"]["prometheusRule"]["thresholds"]["turnLatencyP95Seconds"]
    edges = {
        float(edge)
        for edge in exported.labels["receptionist_stage_latency_seconds_bucket"]["le"]
        if edge != "+Inf"
    }
    assert budget in edges
    stages = exported.labels["receptionist_stage_latency_seconds_bucket"]["stage"]
    assert {"end_of_utterance", "transcription", "llm_ttft", "tts_ttfb", "end_to_end"} <= stages
