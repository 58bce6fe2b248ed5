"""`helm test`'s end-to-end smoke check, run against the real services of the test suite.

The chart's test pod runs `files/smoke-test.py` with settings from its environment. Here
the same script runs against call-sim's stack (redis, scheduling API, token service,
livekit-server and an agent worker, all real processes on loopback): it must pass, and
it must fail, naming the problem, when the release is wired wrong.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
CHART = REPO_ROOT / "deploy" / "helm" / "bright-smile"
SCRIPT = CHART / "files" / "smoke-test.py"
HELM = REPO_ROOT / ".tools" / "bin" / "helm"


def stack_settings(stack: Any) -> dict[str, str]:
    """What the chart gives its test pod, taken from the running stack."""
    return {
        "TOKEN_SERVICE_URL": stack.urls.token_service,
        "SCHEDULING_API_URL": stack.urls.scheduling_api,
        "WORKER_HEALTH_URL": stack.urls.worker_health,
        "PROVIDER_SIM_URL": stack.urls.provider_sim,
        "LIVEKIT_URL": stack.urls.livekit_ws,
        "LIVEKIT_API_KEY": stack.livekit_api_key,
        "LIVEKIT_API_SECRET": stack.livekit_secret,
        "SCHEDULING_API_TOKEN": stack.scheduling_token,
        "AGENT_NAME": stack.agent_name,
        "CLINIC_ID": "bright-smile",
    }


def run_smoke_test(settings: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "WAIT_SECONDS": "20", **settings}
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_smoke_test_passes_against_the_running_services(call_stack: Any) -> None:
    result = run_smoke_test(stack_settings(call_stack))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("ok   ") for line in lines), result.stdout
    for step in ("token minted", "grants:", "availability with the workers' token", "/worker"):
        assert any(step in line for line in lines), f"no {step!r} step:\n{result.stdout}"
    assert lines[-1] == "ok   the release answers end to end"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"SCHEDULING_API_TOKEN": "not-the-workers-token"}, "clinic profile answered 401"),
        (
            {"LIVEKIT_API_SECRET": "another-secret-of-more-than-32-characters"},
            "signature does not match LIVEKIT_API_SECRET",
        ),
        ({"LIVEKIT_API_KEY": "another-key"}, "not LIVEKIT_API_KEY"),
        ({"LIVEKIT_URL": "wss://livekit.example.com"}, "not livekit.url"),
        ({"AGENT_NAME": "another-agent"}, "not exactly 'another-agent'"),
        ({"CLINIC_ID": "another-clinic"}, "expected 'another-clinic'"),
        # livekit-server answers `/` like a worker but has no /worker
        ({"WORKER_HEALTH_URL": "livekit_http"}, "the worker's /worker answered 404"),
        ({"TOKEN_SERVICE_URL": "http://127.0.0.1:9"}, "token service not ready"),
    ],
)
def test_smoke_test_fails_naming_what_is_wrong(
    call_stack: Any, change: dict[str, str], expected: str
) -> None:
    settings = stack_settings(call_stack)
    settings |= {
        name: call_stack.urls.livekit_http if value == "livekit_http" else value
        for name, value in change.items()
    }
    if "TOKEN_SERVICE_URL" in change:
        settings["WAIT_SECONDS"] = "1"
    result = run_smoke_test(settings)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("FAIL "), result.stdout
    assert expected in result.stdout, result.stdout
    assert not result.stderr, result.stderr


def test_the_chart_runs_this_script_with_every_setting_it_reads(tmp_path: Path) -> None:
    if not HELM.exists():
        pytest.fail("helm is not installed: run `make helm` (`make test` depends on it)")
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"providerSim": {"enabled": True}}))
    rendered = subprocess.run(
        [str(HELM), "template", "bright-smile", str(CHART), "-f", str(values),
         "--show-only", "templates/tests/smoke-test.yaml"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    pod = yaml.safe_load(rendered)
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["python", "-c"]
    assert container["args"] == [SCRIPT.read_text()]
    given = {entry["name"] for entry in container["env"]}
    source = SCRIPT.read_text()
    read = set(re.findall(r'setting\("([A-Z_]+)"', source))
    read |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', source))
    assert read - {"WAIT_SECONDS"} <= given, f"the pod lacks {read - given}"
    secrets = {
        entry["name"]: entry["valueFrom"]["secretKeyRef"]
        for entry in container["env"]
        if "valueFrom" in entry
    }
    assert secrets["SCHEDULING_API_TOKEN"]["name"] == "bright-smile-scheduling"
    assert secrets["LIVEKIT_API_SECRET"]["name"] == "bright-smile-livekit"
    assert secrets["TOKEN_SERVICE_API_KEYS"]["optional"] is True
