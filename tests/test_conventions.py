"""docs/conventions.md holds everywhere: one log line shape, one error body shape.

Each service's own logging module writes the lines (in a child process, the way the
service configures it), and both APIs answer real bad requests over HTTP.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LEADING_FIELDS = ["ts", "level", "service", "logger", "message"]
LEVELS = {"debug", "info", "warning", "error", "critical"}
UTC_MILLISECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")
SECRET = "s3cret-value"

# How each service sets its logging up: the console script's call, or (agent worker) the
# LiveKit CLI's production handler followed by ours.
SETUPS = {
    **{
        service: f"from {package}.logs import configure_logging; configure_logging('INFO')"
        for service, package in (
            ("scheduling-api", "scheduling_api"),
            ("token-service", "token_service"),
            ("provider-sim", "provider_sim"),
            ("call-sim", "call_sim"),
        )
    },
    "agent-worker": (
        "from receptionist.logs import install_redaction, use_log_shape; use_log_shape(); "
        "from livekit.agents.cli.log import setup_logging; "
        "setup_logging('INFO', devmode=False, console=False); install_redaction()"
    ),
}

LOG_SOME_LINES = textwrap.dedent(
    f"""
    import logging
    logger = logging.getLogger("conventions.check")
    logger.info("booking created", extra={{"clinic_id": "bright-smile", "attempt": 2}})
    logger.warning("GET /v1/listen?encoding=linear16&token={SECRET} 101")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("unhandled error", extra={{"error_id": "abcdefgh"}})
    """
)


def log_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def assert_conventional(entry: dict[str, Any], service: str) -> None:
    assert list(entry)[: len(LEADING_FIELDS)] == LEADING_FIELDS, entry
    assert UTC_MILLISECONDS.fullmatch(entry["ts"]), entry
    assert entry["level"] in LEVELS, entry
    assert entry["service"] == service, entry
    assert entry["message"], entry
    assert not {"time", "timestamp", "fields", "name", "levelname"} & set(entry), entry


@pytest.mark.parametrize("service", sorted(SETUPS))
def test_every_service_logs_the_one_shape(service: str) -> None:
    """The shape, extras flat at the top level, tracebacks under `exception`, and a
    secret in a query string masked."""
    ran = subprocess.run(
        [sys.executable, "-c", f"{SETUPS[service]}\n{LOG_SOME_LINES}"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    output = ran.stdout + ran.stderr
    assert SECRET not in output
    ours = [e for e in log_lines(output) if e.get("logger") == "conventions.check"]
    assert [e["message"] for e in ours][::2] == ["booking created", "unhandled error"], output
    for entry in ours:
        assert_conventional(entry, service)
    created, query, failed = ours
    assert (created["level"], created["clinic_id"], created["attempt"]) == (
        "info",
        "bright-smile",
        2,
    )
    assert query["level"] == "warning"
    assert "token=[redacted]" in query["message"]
    assert (failed["level"], failed["error_id"]) == ("error", "abcdefgh")
    assert "ValueError: boom" in failed["exception"]


def assert_error_body(response: httpx.Response, status: int, error: str) -> list[Any]:
    """The body is {"error", "message", "fields"}; returns the fields' names."""
    assert response.status_code == status, response.text
    body = response.json()
    assert {"error", "message", "fields"} <= set(body), body
    assert "details" not in body
    assert body["error"] == error, body
    assert body["message"]
    for problem in body["fields"]:
        assert set(problem) == {"field", "message"}, body
        assert problem["message"]
        assert problem["field"] in body["message"], body
    return [problem["field"] for problem in body["fields"]]


def test_both_apis_answer_errors_and_log_in_the_one_shape(services: Any, api_env: Any) -> None:
    scheduling = services.start(
        ["scheduling-api"],
        name="scheduling-api",
        env={**api_env.scheduling, "LOG_LEVEL": "INFO"},
    )
    token = services.start(
        ["token-service"], name="token-service", env={**api_env.token, "LOG_LEVEL": "INFO"}
    )
    auth = {"Authorization": f"Bearer {api_env.scheduling_token}"}
    availability = f"{scheduling.base_url}/v1/clinics/bright-smile/availability"
    bad_days = httpx.get(availability, params={"appointment_type": "exam", "days": 0}, headers=auth)
    assert assert_error_body(bad_days, 422, "validation_error") == ["days"]
    bad_ttl = httpx.post(f"{token.base_url}/v1/token", json={"clinic_id": 7})
    assert assert_error_body(bad_ttl, 422, "invalid_request") == ["clinic_id"]
    chosen_room = httpx.post(f"{token.base_url}/v1/token", json={"room_name": "mine"})
    assert assert_error_body(chosen_room, 400, "request_refused") == ["room_name"]
    services.stop_all()

    for name, service in (("scheduling-api", scheduling), ("token-service", token)):
        entries = log_lines(service.log())
        assert entries, service.log()
        for entry in entries:
            assert_conventional(entry, name)
    refused = [e for e in log_lines(token.log()) if e["message"] == "token refused"]
    assert [e["error"] for e in refused] == ["invalid_request", "request_refused"]
