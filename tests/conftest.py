"""Fixtures for the cross-service tests: a real LiveKit server on loopback, the whole
stack, and the two HTTP APIs alone, all through `call_sim.stack`.

The LiveKit server is the pinned binary that `make livekit-server` builds into
.tools/bin/livekit-server (or the one LIVEKIT_SERVER_BIN names), with the loopback config
of `call_sim.stack.livekit_loopback_config` on free ports, so several test sessions can
run side by side.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from call_sim.stack import LiveKitServer, scheduling_api_env
from call_sim.stack import livekit_server as build_livekit

API_KEY = "testkey"


@pytest.fixture(scope="session")
def livekit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveKitServer]:
    """One LiveKit server on loopback for the whole session."""
    server = build_livekit(tmp_path_factory.mktemp("livekit"), api_key=API_KEY)
    server.launch(timeout=20)
    yield server
    server.stop()


# --------------------------------------------------------------------------------------
# The whole system on loopback (call-sim's stack), shared by the end-to-end call tests
# and the full-stack browser test
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def call_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Redis, scheduling-api, token-service, provider-sim, livekit-server and one agent
    worker, started once for the session as real processes on free loopback ports
    (`call_sim.stack.Stack`). Always offline: provider-sim stands in for the providers even
    when API keys are set. Tuned for short tests: the worker's silence timeout is 3 s and
    the simulated TTS speaks about three times as fast as a person. Besides the packaged
    clinics it serves two test clinics whose front desk always / never takes transfers
    (`phone_line_clinics`).

    What a test uses: `.urls.token_service` (POST /v1/token; serves web/dist at / when it is
    built), `.urls.livekit_ws`, `.urls.scheduling_api` with `.scheduling_token`,
    `.urls.provider_sim` (load a model script with
    `call_sim.clients.ProviderSim(url).load_script(call_sim.catalog.load("booking")
    .provider_script_yaml())`), `.urls.worker_metrics`, and `.workdir / "logs"`.
    """
    with running_call_stack(tmp_path_factory.mktemp("call-stack")) as stack:
        yield stack


@pytest.fixture(scope="session")
def call_stack_launcher() -> Callable[..., AbstractContextManager[Any]]:
    """`running_call_stack`, for a test module that needs the stack with other settings
    (`with call_stack_launcher(workdir, job_executor="thread") as stack:`)."""
    return running_call_stack


@contextmanager
def running_call_stack(workdir: Path, **overrides: Any) -> Iterator[Any]:
    """call-sim's stack started offline with the short-test tuning described in
    `call_stack` (plus any other call-sim `Settings` in `overrides`), stopped on exit."""
    from call_sim.config import Settings
    from call_sim.stack import Stack, StackError, StackOptions
    from phone_line_clinics import write_test_clinics

    tuning: dict[str, Any] = {
        "silence_timeout_seconds": 3.0,
        "tts_ms_per_character": 20.0,
        "pause_seconds": 0.25,
        "agent_quiet_seconds": 0.5,
    }
    settings = Settings(workdir=workdir, providers="simulated", **(tuning | overrides))
    clinics = write_test_clinics(workdir / "clinics", datetime.now(UTC))
    stack = Stack(settings, options=StackOptions(clinics_config=clinics))
    try:
        stack.start()
    except StackError as error:
        pytest.fail(
            f"the call stack ({overrides or 'defaults'}) did not start: {error}", pytrace=False
        )
    try:
        yield stack
    finally:
        stack.stop()


# --------------------------------------------------------------------------------------
# The two HTTP APIs alone, for the contract (schemathesis) and hardening tests
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiEnvironments:
    """What `scheduling-api` and `token-service` processes need, on the session's Redis."""

    scheduling_token: str
    scheduling: dict[str, str]
    token: dict[str, str]


@pytest.fixture(scope="session")
def api_env(redis_server: Any) -> ApiEnvironments:
    scheduling_token = "api-test-" + secrets.token_hex(8)
    return ApiEnvironments(
        scheduling_token=scheduling_token,
        scheduling=scheduling_api_env(
            redis_server.url, scheduling_token, REDIS_KEY_PREFIX="api-tests", LOG_LEVEL="WARNING"
        ),
        token={
            "LIVEKIT_URL": "ws://127.0.0.1:7880",
            "LIVEKIT_API_KEY": API_KEY,
            "LIVEKIT_API_SECRET": secrets.token_hex(24),
            "REDIS_URL": redis_server.url,
            "RATE_LIMIT_REQUESTS": "1000000",
            "RATE_LIMIT_BURST": "1000000",
            "WEB_CLIENT_ENABLED": "false",
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
        },
    )
