"""Fixtures for the cross-service tests: a real LiveKit server on loopback.

The server is the pinned binary that `make livekit-server` builds into
.tools/bin/livekit-server (or the one LIVEKIT_SERVER_BIN names). Its config keeps
everything on 127.0.0.1: it binds there, advertises only 127.0.0.1 as its ICE address
(loopback candidate on, external IP discovery off, STUN pointed at loopback), and uses
free ports so several test sessions can run side by side.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BINARY = REPO_ROOT / ".tools" / "bin" / "livekit-server"
API_KEY = "testkey"


@dataclass
class LiveKitServer:
    http_port: int
    udp_port: int
    api_key: str
    api_secret: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        """What clients and agents connect to (127.0.0.1, never localhost)."""
        return f"ws://127.0.0.1:{self.http_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loopback_config(
    http_port: int, udp_port: int, api_key: str, api_secret: str, redis_address: str = ""
) -> str:
    """With `redis_address` (host:port) the server also stores SIP trunks and dispatch rules."""
    redis = f"redis:\n  address: {redis_address}\n" if redis_address else ""
    return (
        redis
        + f"""\
port: {http_port}
bind_addresses: [127.0.0.1]
rtc:
  udp_port: {udp_port}
  tcp_port: 0
  node_ip: 127.0.0.1
  use_external_ip: false
  enable_loopback_candidate: true
  ips:
    includes: [127.0.0.1/32]
  stun_servers: ["127.0.0.1:3478"]
keys:
  {api_key}: {api_secret}
logging:
  level: info
"""
    )


def start_livekit_server(workdir: Path, redis_address: str = "") -> LiveKitServer:
    binary = Path(os.environ.get("LIVEKIT_SERVER_BIN", DEFAULT_BINARY))
    if not binary.is_file():
        pytest.fail(
            f"livekit-server not found at {binary}. Build the pinned version with "
            "`make livekit-server` (needs Go; `make test` does it for you), or set "
            "LIVEKIT_SERVER_BIN to an existing binary.",
            pytrace=False,
        )
    http_port, udp_port = _free_port(socket.SOCK_STREAM), _free_port(socket.SOCK_DGRAM)
    api_secret = secrets.token_urlsafe(32)  # the server wants 32+ characters
    config_path = workdir / "livekit.yaml"
    config_path.write_text(loopback_config(http_port, udp_port, API_KEY, api_secret, redis_address))
    log_path = workdir / "livekit-server.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [str(binary), "--config", str(config_path)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = LiveKitServer(http_port, udp_port, API_KEY, api_secret, process, log_path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"livekit-server exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.http_url, timeout=0.5).text.strip() == "OK":
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    pytest.fail(f"livekit-server did not answer GET / within 20 s:\n{server.log()}")


@pytest.fixture(scope="session")
def livekit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveKitServer]:
    """One LiveKit server on loopback for the whole session."""
    server = start_livekit_server(tmp_path_factory.mktemp("livekit"))
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
    the simulated TTS speaks about three times as fast as a person.

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
    from call_sim.stack import Stack, StackError

    tuning: dict[str, Any] = {
        "silence_timeout_seconds": 3.0,
        "tts_ms_per_character": 20.0,
        "pause_seconds": 0.25,
        "agent_quiet_seconds": 0.5,
    }
    settings = Settings(workdir=workdir, providers="simulated", **(tuning | overrides))
    stack = Stack(settings)
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
        scheduling={
            "REDIS_URL": redis_server.url,
            "REDIS_KEY_PREFIX": "api-tests",
            "HOST": "127.0.0.1",
            "SCHEDULING_API_TOKENS": scheduling_token,
            "SLOT_ID_SECRET": secrets.token_hex(16),
            "LOG_LEVEL": "WARNING",
        },
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
