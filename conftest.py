"""Fixtures shared by every test suite in the repository: real servers on loopback.

Tests talk to a real redis-server and to real HTTP servers started as separate
processes, never to mocks, all through the one local-stack harness (`call_sim.stack`,
whose docstring maps how to start any part). A server that cannot start fails the tests
that need it with the reason and the server's own output.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from call_sim.stack import Launcher, RedisServer
from call_sim.stack import redis_server as build_redis


def start_redis(workdir: Path) -> RedisServer:
    """A redis-server with AOF on (so restarts keep the data), started and answering."""
    server = build_redis(workdir, persistent=True)
    server.launch(timeout=10)
    return server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the whole test session (use `redis_url` for a clean db)."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
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
    server = start_redis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Launcher]:
    """Launch real service processes for one test; all are stopped at its end."""
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="session")
def session_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    """Launch real service processes shared by a whole test session."""
    launcher = Launcher(tmp_path_factory.mktemp("services"))
    yield launcher
    launcher.stop_all()
