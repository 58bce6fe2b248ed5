"""The Grafana dashboards show a booking call, read from a real Prometheus.

The call-sim stack (scheduling API, token service, agent worker, LiveKit, provider-sim)
runs one booking call while the pinned Prometheus (`make prometheus`) scrapes the worker's
multiprocess /metrics, the scheduling API and the token service every second. Its scrape
configuration is derived from the chart: each ServiceMonitor, the Service it selects and
the pod port behind it give a target the labels Kubernetes service discovery would give
it, and the relabelling the Prometheus Operator generates for a ServiceMonitor turns them
into `namespace`, `service`, `pod`, `container`, `job` and `endpoint`. The chart's rules
are loaded as they are.

After the call every panel query of every dashboard is evaluated over the call through
the HTTP API, with the dashboard variables substituted as Grafana would (`$namespace`
as its own `label_values` query offers it). One refused request to each API after the call
gives the 4xx panels something to show. A panel must return a value above zero, except the
few that rightly stay empty or flat in a clean call, listed below with the reason. A broken
query, a renamed metric or label, or a rule whose job no target has fails here.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import promql_parser
import pytest
import yaml
from call_sim import catalog, render
from call_sim.runner import ScenarioRunner
from call_sim.voice import CallerVoice
from helm_chart import CHART, of_kind, render_chart, rule_groups
from prometheus_server import PrometheusServer, start_prometheus
from service_monitors import COMPONENT_LABEL, scrape_configs

pytestmark = pytest.mark.slow

NAMESPACE = "clinic"
SCRAPE_INTERVAL_SECONDS = 1
# Grafana's $__rate_interval: max($__interval + scrape interval, 4 x scrape interval),
# with $__interval = the query step = the scrape interval here.
RATE_INTERVAL_SECONDS = max(2 * SCRAPE_INTERVAL_SECONDS, 4 * SCRAPE_INTERVAL_SECONDS)
DISPATCH_ATTEMPTS = 3
# The dashboard variables as Grafana sets them for the call (test_namespace_variable_...
# checks that `$namespace`'s own query offers exactly this namespace).
GRAFANA_VARIABLES = {
    "namespace": NAMESPACE,
    "__interval": f"{SCRAPE_INTERVAL_SECONDS}s",
    "__rate_interval": f"{RATE_INTERVAL_SECONDS}s",
}

# Panel queries that stay without any value through a clean booking call, and why.
EMPTY_AFTER_A_CLEAN_CALL: dict[str, str] = {}
# Panel queries whose series (created at zero when a service starts) stay at zero through
# a clean booking call, and why.
ZERO_AFTER_A_CLEAN_CALL = {
    **{
        "calls-and-workers / Callers waiting for a receptionist / Dispatch watchdog: callers "
        f"per minute / {legend}": "the receptionist joins at once: nobody waits, so the "
        "dispatch watchdog never acts"
        for legend in ("re-dispatches", "waited > 5 s", "served after hold", "D")
    },
    "apis / Scheduling API / Error ratio (5xx and 4xx) / 5xx": "no request fails",
    "apis / Token service / Error ratio (5xx and 4xx) / 5xx": "no request fails",
    "apis / Token service / Tokens per minute by outcome / rate limited": "one caller stays "
    "far under the rate limit",
    "calls-and-workers / Calls / Provider errors per minute / A": "no provider fails",
    "calls-and-workers / Bookings / Scheduling API bookings per minute by outcome / callback "
    "requests": "the caller books, so asks for no callback",
    "voice-latency / Tools / Tool error ratio / A": "no tool call fails",
    **{
        f"apis / Webhooks / {panel}": "the local stack has no clinic backend subscribed: "
        "nothing is delivered, waits or fails"
        for panel in (
            "Deliveries per minute by outcome / A",
            "Oldest undelivered event / oldest undelivered",
            "Dead letters / dead letters",
        )
    },
}
# Series selectors of the chart's alerts that select nothing after a clean booking call,
# and why.
UNSELECTED_AFTER_A_CLEAN_CALL: dict[str, str] = {}


# --- the dashboards ---------------------------------------------------------------------


@dataclass(frozen=True)
class PanelQuery:
    key: str  # "<dashboard> / <row> / <panel> / <legend or refId>"
    expr: str
    legend: str


def dashboards() -> dict[str, dict[str, Any]]:
    return {
        path.stem: json.loads(path.read_text())
        for path in sorted((CHART / "files" / "dashboards").glob("*.json"))
    }


def panel_queries() -> list[PanelQuery]:
    queries = []
    for name, board in dashboards().items():
        row = ""
        for panel in board["panels"]:
            if panel["type"] == "row":
                row = re.split(r"[:(]", panel["title"])[0].strip()
            for inner in [panel, *panel.get("panels", [])]:
                for target in inner.get("targets", []):
                    legend = target.get("legendFormat", "")
                    label = legend if legend and "{{" not in legend else target["refId"]
                    queries.append(
                        PanelQuery(
                            f"{name} / {row} / {inner['title']} / {label}", target["expr"], legend
                        )
                    )
    return queries


def grafana_substitute(expr: str, variables: dict[str, str]) -> str:
    """`expr` with `$name` / `${name}` replaced as Grafana does before querying."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in variables:
            pytest.fail(f"unknown dashboard variable ${name} in {expr}")
        return variables[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def local_addresses(stack: Any) -> dict[str, str]:
    return {
        "scheduling-api": urlsplit(stack.urls.scheduling_api).netloc,
        "token-service": urlsplit(stack.urls.token_service).netloc,
        "agent-worker": urlsplit(stack.urls.worker_metrics).netloc,
        "webhook-dispatcher": urlsplit(stack.urls.dispatcher_metrics).netloc,
    }


def wait_for_a_scrape_of_every_target(server: PrometheusServer, after: float) -> None:
    """Until every target has been scraped successfully after `after` (epoch seconds)."""
    deadline = time.monotonic() + 60
    targets: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        targets = server.targets()
        # timestamp() of a plain selector is the time of the sample, i.e. of the scrape.
        scraped = server.api("query", {"query": "min(timestamp(up))"})["result"]
        fresh = scraped and float(scraped[0]["value"][1]) > after
        if fresh and all(t["health"] == "up" for t in targets):
            return
        time.sleep(0.5)
    pytest.fail(f"Prometheus did not scrape every target after the call: {targets}")


async def refuse_one_request_each(stack: Any) -> None:
    """A request without a token to each API, made before and after the call: the 4xx
    panels then show a rise (a caller's mistake, which the 5xx alerts must not count). The
    scheduling API creates a route's 4xx series with its first 4xx only, hence twice."""
    async with httpx.AsyncClient(timeout=10) as client:
        unauthorised = await client.get(f"{stack.urls.scheduling_api}/v1/clinics")
        assert unauthorised.status_code == 401, unauthorised.text
        malformed = await client.post(f"{stack.urls.token_service}/v1/token", content=b"{")
        assert 400 <= malformed.status_code < 500, malformed.text


# --- the run ----------------------------------------------------------------------------


@dataclass
class LiveRun:
    prometheus: PrometheusServer
    objects: list[dict[str, Any]]
    start: float
    end: float


@pytest.fixture(scope="module")
def booking_stack(
    tmp_path_factory: pytest.TempPathFactory,
    call_stack_launcher: Callable[..., AbstractContextManager[Any]],
) -> Iterator[Any]:
    """The call-sim stack of its own: the booking scenario expects to be its caller's only
    booking, and the session's `call_stack` has one already (test_e2e_calls)."""
    with call_stack_launcher(tmp_path_factory.mktemp("dashboards-stack")) as stack:
        yield stack


async def make_the_booking_call(stack: Any) -> None:
    """The packaged booking scenario through `stack`. A call the LiveKit server never
    dispatched is tried again (it refuses every worker while the machine's CPU is
    saturated, as on a shared test machine; such a call booked nothing); any other failure
    fails the module."""
    runner = ScenarioRunner(stack, stack.settings, CallerVoice.load(), stack.console)
    for attempt in range(1, DISPATCH_ATTEMPTS + 1):
        report = await runner.run(catalog.load("booking"))
        failed = [check for check in report["checks"] if not check["passed"]]
        if not failed:
            return
        undispatched = any("no receptionist joined" in str(c.get("detail")) for c in failed)
        if not undispatched or attempt == DISPATCH_ATTEMPTS:
            pytest.fail(f"the booking call failed (attempt {attempt}):\n{render.full(report)}")
        await asyncio.sleep(5)


@pytest.fixture(scope="module")
async def live(
    booking_stack: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveRun]:
    objects = render_chart("--namespace", NAMESPACE)
    workdir = tmp_path_factory.mktemp("prometheus")
    (workdir / "rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups(objects)}))
    interval = f"{SCRAPE_INTERVAL_SECONDS}s"
    config = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "rule_files": ["rules.yaml"],
        "scrape_configs": scrape_configs(objects, NAMESPACE, local_addresses(booking_stack)),
    }
    server = start_prometheus(config, workdir)
    try:
        start = time.time()
        wait_for_a_scrape_of_every_target(server, after=start)
        await refuse_one_request_each(booking_stack)
        await make_the_booking_call(booking_stack)
        await refuse_one_request_each(booking_stack)
        wait_for_a_scrape_of_every_target(server, after=time.time())
        # One step past that scrape, so that the queries' last step counts everything.
        end = time.time() + SCRAPE_INTERVAL_SECONDS
        wait_for_a_scrape_of_every_target(server, after=end)
        yield LiveRun(server, objects, start, end)
    finally:
        server.stop()


# --- tests ------------------------------------------------------------------------------


def test_targets_carry_the_labels_the_service_monitors_imply(live: LiveRun) -> None:
    targets = {t["labels"]["job"]: t["labels"] for t in live.prometheus.targets()}
    monitors = of_kind(live.objects, "ServiceMonitor")
    assert len(targets) == len(monitors) == 4
    for monitor in monitors:
        service = monitor["metadata"]["name"]  # the chart names each after its Service
        labels = targets[service]
        assert labels["namespace"] == NAMESPACE
        assert labels["service"] == service
        assert labels["pod"].startswith(f"{service}-")
        assert labels["container"] == monitor["metadata"]["labels"][COMPONENT_LABEL]
        assert labels["endpoint"] == monitor["spec"]["endpoints"][0]["port"]


@pytest.mark.parametrize("board", sorted(dashboards()))
def test_namespace_variable_finds_the_namespace(board: str, live: LiveRun) -> None:
    """Each dashboard's `label_values(metric, label)` variable, asked as Grafana asks it."""
    for variable in dashboards()[board]["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"])
        assert match, f"{board}: unsupported variable query {variable['definition']}"
        metric, label = match.groups()
        values = live.prometheus.api(
            f"label/{label}/values",
            {"match[]": metric, "start": live.start, "end": live.end},
        )
        assert values == [NAMESPACE], f"{board}: ${variable['name']} offers {values}"


def outcome(result: list[Any]) -> str:
    """`data` (some value above zero), `zero` (only zeros) or `empty` (no value at all)."""
    values = [float(value) for series in result for _, value in series["values"]]
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return "empty"
    return "data" if any(value != 0 for value in finite) else "zero"


def expected_outcome(key: str) -> str:
    if key in EMPTY_AFTER_A_CLEAN_CALL:
        return "empty"
    return "zero" if key in ZERO_AFTER_A_CLEAN_CALL else "data"


def test_listed_exceptions_name_real_panels() -> None:
    keys = {query.key for query in panel_queries()}
    stale = (EMPTY_AFTER_A_CLEAN_CALL.keys() | ZERO_AFTER_A_CLEAN_CALL.keys()) - keys
    assert not stale, f"listed panels that no dashboard has: {sorted(stale)}"
    assert len(keys) == len(panel_queries()), "two panel queries share a name"


@pytest.mark.parametrize("query", panel_queries(), ids=lambda query: query.key)
def test_panel_shows_the_booking_call(query: PanelQuery, live: LiveRun) -> None:
    promql = grafana_substitute(query.expr, GRAFANA_VARIABLES)
    result = live.prometheus.query_range(promql, live.start, live.end, step=SCRAPE_INTERVAL_SECONDS)
    wanted = expected_outcome(query.key)
    reason = {**EMPTY_AFTER_A_CLEAN_CALL, **ZERO_AFTER_A_CLEAN_CALL}.get(query.key, "")
    assert outcome(result) == wanted, (
        f"{query.key}: expected {wanted} {reason}, got {outcome(result)}\n"
        f"query: {promql}\nresult: ...{json.dumps(result)[-1500:]}"
    )
    # Each series must carry the labels its legend names (`{{outcome}}`), or Grafana shows
    # the breakdown as blank lines: a label renamed in `by (...)` shows here.
    named = re.findall(r"\{\{\s*(\w+)\s*\}\}", query.legend)
    unlabelled = [
        series["metric"] for series in result if not set(named) <= series["metric"].keys()
    ]
    assert not unlabelled, f"{query.key}: series without the legend's {named}: {unlabelled}"


def test_rules_evaluate_and_no_down_alert_is_active(live: LiveRun) -> None:
    """The rules run on the live series without errors, and the `absent(up{job=...})`
    alerts see every component up: the jobs they name are the ones the scrape produced."""
    groups = live.prometheus.api("rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == sum(len(group["rules"]) for group in rule_groups(live.objects))
    broken = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not broken, broken
    for rule in rules:
        if "absent(up" in rule["query"]:
            now = live.prometheus.api("query", {"query": rule["query"]})["result"]
            assert now == [], f"{rule['name']} would fire with every component up: {now}"


def alert_selectors(live: LiveRun) -> dict[str, str]:
    """`<rule>: <selector>` -> selector, for every series selector of the chart's rules."""
    found: dict[str, str] = {}

    def visit(node: Any, alert: str) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found[f"{alert}: {node}"] = str(node)

    for group in rule_groups(live.objects):
        for rule in group["rules"]:
            name = rule.get("alert") or rule["record"]
            tree = promql_parser.parse(rule["expr"])
            promql_parser.walk(tree, pre_visit=lambda node, a=name: visit(node, a))
    return found


def test_alerts_select_the_live_series(live: LiveRun) -> None:
    """Every series selector of every alert, with its job and label values, finds series
    in the scrape: the rule's job names are the ones the ServiceMonitors produce (the
    unit tests, with hand-written series, cannot show that)."""
    selectors = alert_selectors(live)
    assert not UNSELECTED_AFTER_A_CLEAN_CALL.keys() - selectors.keys(), "stale exceptions"
    unselected = [
        key
        for key, selector in selectors.items()
        if not live.prometheus.api(
            "series", {"match[]": selector, "start": live.start, "end": live.end}
        )
    ]
    assert sorted(unselected) == sorted(UNSELECTED_AFTER_A_CLEAN_CALL), (
        "alert selectors matching no live series (or listed but matching):\n"
        + "\n".join(sorted(set(unselected) ^ UNSELECTED_AFTER_A_CLEAN_CALL.keys()))
    )
