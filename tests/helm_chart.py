"""The Helm chart rendered with the pinned helm binary (`make helm`), for the test suites
that check what it installs: the chart itself, its alerts and its dashboards.

Importable from any test module (pytest puts `tests/` on `sys.path`, see pyproject.toml).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
CHART = REPO_ROOT / "deploy" / "helm" / "bright-smile"
DEPLOY_README = REPO_ROOT / "deploy" / "README.md"
HELM = REPO_ROOT / ".tools" / "bin" / "helm"
RELEASE = "bright-smile"


def helm_binary() -> Path:
    if not HELM.exists():
        pytest.fail(
            f"helm is not installed at {HELM.relative_to(REPO_ROOT)}: run `make helm` "
            "(`make test` depends on it)"
        )
    return HELM


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm_binary()), *args], capture_output=True, text=True, check=False, timeout=60
    )


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [obj for obj in of_kind(objects, kind) if obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def render_chart(*helm_args: str) -> list[dict[str, Any]]:
    """The chart's objects as `helm template <release> <chart> <helm_args>` renders them
    (no arguments: the default values)."""
    result = run_helm("template", RELEASE, str(CHART), *helm_args)
    assert result.returncode == 0, f"helm template {' '.join(helm_args)} failed:\n{result.stderr}"
    return documents(result.stdout)


def rule_groups(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rule groups of the chart's one PrometheusRule, as a Prometheus rule file holds
    them (`groups:`)."""
    [rule] = of_kind(objects, "PrometheusRule")
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def readme_block(marker: str) -> str:
    """deploy/README.md's fenced shell block between `<!-- marker:start -->` and
    `<!-- marker:end -->`: the commands the deploy tests run as written."""
    match = re.search(
        rf"<!-- {marker}:start -->\s*```bash\n(.*?)```\s*<!-- {marker}:end -->",
        DEPLOY_README.read_text(),
        re.S,
    )
    assert match, f"deploy/README.md has no ```bash block marked {marker}"
    return match.group(1)
