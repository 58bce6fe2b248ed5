"""Every alert of the chart's PrometheusRule fires when it must and stays quiet just below.

The rules are rendered from the chart with its default values (not a copy) and run by the
pinned promtool (`make prometheus`) against the cases in `tests/alert_cases/<Alert>.yaml`:
promtool's own test groups (input series, and the alerts expected at each evaluation
time). Each alert needs a group that fires it at its threshold once its `for` has passed
(and is still pending a minute before), and a group just below the threshold that never
fires. An alert without such cases fails `test_every_alert_has_cases`: adding an alert to
the chart means adding its case file.

Expected alerts are compared on their labels. The annotations are left out of the unit
tests (their text would have to be repeated verbatim in every case); `promtool check
rules` checks that their templates parse.
"""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_chart import render_chart, rule_groups
from prometheus_server import tool_binary

CASES = Path(__file__).resolve().parent / "alert_cases"
EVALUATION_INTERVAL = "1m"


def alert_names(groups: list[dict[str, Any]]) -> list[str]:
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def without_annotations(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stripped = copy.deepcopy(groups)
    for group in stripped:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    return stripped


def write_rule_file(path: Path, groups: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def load_cases(alert: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = yaml.safe_load((CASES / f"{alert}.yaml").read_text())
    return cases


def run_promtool_tests(
    rule_file: Path, alert: str, workdir: Path
) -> subprocess.CompletedProcess[str]:
    """promtool test rules over the alert's case groups, against `rule_file`."""
    test_file = workdir / f"{alert}.test.yaml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(rule_file)],
                "evaluation_interval": EVALUATION_INTERVAL,
                "tests": load_cases(alert),
            },
            sort_keys=False,
        )
    )
    return subprocess.run(
        [str(tool_binary("promtool")), "test", "rules", str(test_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture(scope="module")
def chart_groups() -> list[dict[str, Any]]:
    return rule_groups(render_chart())


@pytest.fixture(scope="module")
def rule_file(chart_groups: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("alert-rules")
    return write_rule_file(directory / "rules.yaml", without_annotations(chart_groups))


def test_rendered_rules_pass_promtool_check(
    chart_groups: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Valid PromQL, valid durations, and annotation templates that parse."""
    rules = write_rule_file(tmp_path / "rules.yaml", chart_groups)
    result = subprocess.run(
        [str(tool_binary("promtool")), "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_names(chart_groups))} rules found" in result.stdout


def test_every_alert_has_cases(chart_groups: list[dict[str, Any]]) -> None:
    """One case file per alert of the chart, each with a firing and a just-below group."""
    alerts = set(alert_names(chart_groups))
    files = {path.stem for path in CASES.glob("*.yaml")}
    problems = [
        f"{alert} (deploy/helm/bright-smile/templates/prometheusrule.yaml) has no cases: add "
        f"tests/alert_cases/{alert}.yaml with a group that fires it at its threshold and "
        "one just below that never does (copy the layout of an existing file)"
        for alert in sorted(alerts - files)
    ]
    problems += [
        f"tests/alert_cases/{name}.yaml: the chart has no alert {name}"
        for name in sorted(files - alerts)
    ]
    for alert in sorted(alerts & files):
        problems += case_problems(alert, load_cases(alert))
    assert not problems, "\n".join(problems)


def case_problems(alert: str, groups: list[dict[str, Any]]) -> list[str]:
    """What keeps the case groups of `alert` from proving it fires and stays quiet."""
    where = f"tests/alert_cases/{alert}.yaml"
    problems = []
    fires = quiet = False
    for group in groups:
        checks = group.get("alert_rule_test", [])
        if not checks or not group.get("input_series"):
            problems.append(f"{where}: group {group.get('name')!r} has no series or no checks")
            continue
        others = {check["alertname"] for check in checks} - {alert}
        if others:
            problems.append(f"{where}: group {group['name']!r} checks other alerts {others}")
        firing_times = [c["eval_time"] for c in checks if c.get("exp_alerts")]
        if not firing_times:
            quiet = True
            continue
        pending = [c["eval_time"] for c in checks if not c.get("exp_alerts")]
        first_firing = min(firing_times, key=duration_seconds)
        if any(duration_seconds(t) < duration_seconds(first_firing) for t in pending):
            fires = True
        else:
            problems.append(
                f"{where}: group {group['name']!r} must also show the alert not yet firing "
                f"before {first_firing} (still pending for its `for` duration)"
            )
    if not fires:
        problems.append(f"{where}: no group fires {alert} (after a check that it is pending)")
    if not quiet:
        problems.append(f"{where}: no group just below the threshold where {alert} never fires")
    return problems


def duration_seconds(text: str) -> float:
    """A Prometheus duration (`90s`, `1h30m`) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(n) * units[unit] for n, unit in re.findall(r"(\d+)(ms|s|m|h|d)", text))


@pytest.mark.parametrize("alert", sorted(path.stem for path in CASES.glob("*.yaml")))
def test_alert_fires_at_its_threshold_and_not_below(
    alert: str, rule_file: Path, tmp_path: Path
) -> None:
    result = run_promtool_tests(rule_file, alert, tmp_path)
    assert result.returncode == 0, (
        f"promtool test rules for {alert}:\n{result.stdout}{result.stderr}"
    )


@pytest.mark.parametrize(
    ("threshold", "value", "failing_group"),
    [
        # An alert that can no longer fire at its stated threshold ...
        ("toolErrorRatio", "0.052", "51 of 1000 tool calls fail"),
        # ... or that fires below it, fails its cases.
        ("toolErrorRatio", "0.048", "49 of 1000 tool calls fail"),
    ],
)
def test_cases_fail_when_the_threshold_moves(
    threshold: str, value: str, failing_group: str, tmp_path: Path
) -> None:
    groups = rule_groups(
        render_chart("--set-json", f"metrics.prometheusRule.thresholds.{threshold}={value}")
    )
    rules = write_rule_file(tmp_path / "rules.yaml", without_annotations(groups))
    result = run_promtool_tests(rules, "BrightSmileToolErrors", tmp_path)
    assert result.returncode != 0, result.stdout
    assert failing_group in result.stdout + result.stderr
