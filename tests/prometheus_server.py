"""The pinned Prometheus server and promtool (`make prometheus` builds them into
.tools/bin), for the suites that prove the chart's alerts and dashboards.

`start_prometheus` runs a real server (a `call_sim.stack` component) on a free loopback
port with a given configuration; its HTTP API answers the same
queries Grafana and the alert manager would send.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from call_sim.stack import Component, free_port, http_ok

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"


def tool_binary(name: str) -> Path:
    """`.tools/bin/<name>` (prometheus or promtool); fails the test when it is missing."""
    path = TOOLS_BIN / name
    if not path.is_file():
        pytest.fail(
            f"{name} is not installed at {path.relative_to(REPO_ROOT)}: run `make prometheus` "
            "(needs Go; `make test` does it for you)",
            pytrace=False,
        )
    return path


class PrometheusQueryError(AssertionError):
    """Prometheus refused a query (bad PromQL, unknown function, ...): the reason it gave."""


@dataclass(kw_only=True)
class PrometheusServer(Component):
    """A real Prometheus (a `call_sim.stack` component) with its HTTP API as methods."""

    def api(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The `data` of a successful `/api/v1/<path>` answer; raises with Prometheus's
        own error message otherwise."""
        response = httpx.get(f"{self.base_url}/api/v1/{path}", params=params, timeout=30)
        try:
            body = response.json()
        except ValueError:
            body = {"status": "error", "error": response.text}
        if response.status_code != 200 or body.get("status") != "success":
            raise PrometheusQueryError(
                f"{path} {params}: HTTP {response.status_code}: "
                f"{body.get('errorType', '')} {body.get('error', '')}".strip()
            )
        return body["data"]

    def query_range(self, query: str, start: float, end: float, step: float) -> list[Any]:
        data = self.api(
            "query_range", {"query": query, "start": start, "end": end, "step": f"{step}s"}
        )
        result: list[Any] = data["result"]
        return result

    def targets(self) -> list[dict[str, Any]]:
        active: list[dict[str, Any]] = self.api("targets", {"state": "active"})["activeTargets"]
        return active


def start_prometheus(config: dict[str, Any], workdir: Path) -> PrometheusServer:
    """Prometheus with `config` (prometheus.yml as a dict; relative rule file paths are
    resolved against `workdir`), its data in `workdir`, ready to answer queries."""
    binary = tool_binary("prometheus")
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    server = PrometheusServer(
        name="prometheus",
        argv=[
            str(binary),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        env=dict(os.environ),
        log_path=workdir / "prometheus.log",
        ready=http_ok(f"http://127.0.0.1:{port}/-/ready"),
        address=f"http://127.0.0.1:{port}",
        port=port,
        cwd=workdir,
    )
    server.launch(timeout=60)
    return server
