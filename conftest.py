"""Fixtures shared by every test suite in the repository: real servers on loopback.

Tests talk to a real redis-server and to real HTTP servers started as separate
processes, never to mocks. Everything listens on 127.0.0.1 on a free port inside a
temporary directory, and is stopped when the test session ends. A server that
cannot start fails the test run loudly with the reason and the server's own output.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A real redis-server on loopback, with AOF on so restarts keep the data."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.exit(
                "redis-server is not installed: run `make setup` (it installs it when run as "
                "root) or install the 'redis-server' package yourself.",
                returncode=3,
            )
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.workdir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--logfile",
                str(self.log_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        log = self.log_path.read_text() if self.log_path.exists() else "(no log)"
        self.stop()
        pytest.exit(f"redis-server did not start on port {self.port}:\n{log}", returncode=3)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def flushall(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            sock.recv(16)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the whole test session (use `redis_url` for a clean db)."""
    server = RedisServer(port=free_port(), workdir=tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The shared redis-server, emptied before the test that asks for it."""
    redis_server.flushall()
    return redis_server.url


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, for tests that stop or restart it."""
    server = RedisServer(port=free_port(), workdir=tmp_path)
    server.start()
    yield server
    server.stop()


@dataclass
class ServiceProcess:
    """A service started as a real process from its console script, on loopback."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_service(
    command: Sequence[str],
    *,
    name: str,
    port: int,
    env: Mapping[str, str],
    ready_path: str = "/healthz",
    timeout: float = 30.0,
    log_dir: Path | None = None,
) -> ServiceProcess:
    """Start a console script (looked up in the virtualenv) and wait until it answers.

    `env` is added to a copy of this process's environment. Fails the test with the
    service's own output when it exits or does not answer `ready_path` in time.
    """
    executable = VENV_BIN / command[0]
    argv = [str(executable if executable.exists() else command[0]), *command[1:]]
    directory = log_dir or Path(tempfile.mkdtemp(prefix=f"{name}-"))
    log_path = directory / f"{name}-{port}.log"
    full_env = {**os.environ, **env}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            argv, env=full_env, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
    service = ServiceProcess(name=name, port=port, process=process, log_path=log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"{name} exited with {process.returncode} before answering:\n{service.log()}"
            )
        try:
            response = httpx.get(f"{service.base_url}{ready_path}", timeout=0.5)
            if response.status_code < 500:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    service.stop()
    pytest.fail(f"{name} did not answer {ready_path} within {timeout:.0f}s:\n{service.log()}")


class ServiceLauncher:
    """Starts services for a test (or a session) and stops them all afterwards."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[ServiceProcess] = []

    def start(
        self,
        command: Sequence[str],
        *,
        name: str,
        env: Mapping[str, str],
        port: int | None = None,
        ready_path: str = "/healthz",
        timeout: float = 30.0,
    ) -> ServiceProcess:
        """Start `command` with `PORT` set to a free port (or `port`) and wait for it."""
        chosen = port or free_port()
        service = start_service(
            command,
            name=name,
            port=chosen,
            env={"PORT": str(chosen), **env},
            ready_path=ready_path,
            timeout=timeout,
            log_dir=self.log_dir,
        )
        self.started.append(service)
        return service

    def stop_all(self) -> None:
        for service in reversed(self.started):
            service.stop()
        self.started.clear()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[ServiceLauncher]:
    """Launch real service processes for one test; all are stopped at its end."""
    launcher = ServiceLauncher(tmp_path)
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="session")
def session_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceLauncher]:
    """Launch real service processes shared by a whole test session."""
    launcher = ServiceLauncher(tmp_path_factory.mktemp("services"))
    yield launcher
    launcher.stop_all()
