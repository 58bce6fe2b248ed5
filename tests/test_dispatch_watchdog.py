"""The dispatch watchdog against real livekit-server, real workers and three token-service
replicas sharing Redis: a caller refused for lack of capacity is told to hold within 5 s
and served when a worker frees up; one replica leads, another takes over when it dies; and
when the retry window ends the caller is told (the page then shows the clinic's number).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from call_sim.waiting import WaitingCaller
from call_sim.worker_metrics import parse

pytestmark = pytest.mark.slow

BUSY_WITHIN_SECONDS = 5.0
RETRY_WINDOW_SECONDS = 25.0
# generous: two shared cores; a caller's wait for an agent that should come
AGENT_TIMEOUT_SECONDS = 60.0


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    call_stack_launcher: Callable[..., AbstractContextManager[Any]],
) -> Iterator[Any]:
    """One worker taking one call at a time, three token-service replicas."""
    with call_stack_launcher(
        tmp_path_factory.mktemp("watchdog-stack"),
        max_calls_per_worker=1,
        token_services=3,
        dispatch_retry_window_seconds=RETRY_WINDOW_SECONDS,
    ) as running:
        yield running


def _series(stack: Any, replica: str, name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
    if not stack.component(replica).running():
        return 0.0
    text = httpx.get(f"{stack.service_url(replica)}/metrics", timeout=10).text
    return parse(text).get((name, labels), 0.0)


def _total(stack: Any, name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
    return sum(_series(stack, replica, name, labels) for replica in stack.token_service_names)


def _eventually(stack: Any, name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
    """The series' total over the replicas once it is non-zero (the leader counts on its
    next look at the room), or 0 after 20 s."""
    deadline = time.monotonic() + 20
    while (value := _total(stack, name, labels)) == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    return value


def _leaders(stack: Any) -> list[str]:
    return [
        replica
        for replica in stack.token_service_names
        if _series(stack, replica, "dispatch_watchdog_leader") == 1.0
    ]


def _wait_for_one_leader(stack: Any, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    leaders: list[str] = []
    while time.monotonic() < deadline:
        leaders = _leaders(stack)
        if len(leaders) == 1:
            return leaders[0]
        time.sleep(0.5)
    raise AssertionError(f"expected exactly one watchdog leader, saw {leaders}")


def test_exactly_one_replica_leads(stack: Any) -> None:
    leader = _wait_for_one_leader(stack, 30)
    for _ in range(4):  # and it stays that way
        time.sleep(1)
        assert _leaders(stack) == [leader]


async def test_a_caller_beyond_capacity_holds_then_is_served(stack: Any) -> None:
    first = WaitingCaller(stack.urls.token_service)
    second = WaitingCaller(stack.urls.token_service)
    try:
        await first.join()
        assert await first.wait_for_agent(AGENT_TIMEOUT_SECONDS), "the first caller was not served"
        await second.join()
        waited = await second.wait_for_status("busy", 30)
        assert waited is not None, f"no busy message: {second.record}"
        assert waited <= BUSY_WITHIN_SECONDS
        assert not second.record.served
        await first.hang_up()  # the worker frees up within the retry window
        assert await second.wait_for_agent(RETRY_WINDOW_SECONDS), (
            f"not served after the worker freed up: {second.record}"
        )
        assert second.record.agent_identity != first.record.agent_identity
    finally:
        await first.hang_up()
        await second.hang_up()
    assert _total(stack, "dispatch_watchdog_retries_total") >= 1
    assert _eventually(stack, "dispatch_watchdog_callers_served_after_hold_total") == 1.0


async def test_the_watchdog_survives_its_leader_and_tells_the_caller_when_retries_end(
    stack: Any,
) -> None:
    leader = _wait_for_one_leader(stack, 30)
    stack.component(leader).process.kill()  # SIGKILL: no release of the lease
    stack.component(leader).process.wait()
    successor = _wait_for_one_leader(stack, 30)
    assert successor != leader
    await asyncio.to_thread(stack.component("agent-worker").stop)  # no capacity at all now
    entry = next(name for name in stack.token_service_names if stack.component(name).running())
    caller = WaitingCaller(stack.service_url(entry))
    try:
        await caller.join()
        await caller.wait_for_status("unavailable", RETRY_WINDOW_SECONDS + 30)
    finally:
        await caller.hang_up()
    busy, unavailable = (
        caller.record.first_status("busy"),
        caller.record.first_status("unavailable"),
    )
    assert busy is not None, f"no busy message: {caller.record}"
    assert busy <= BUSY_WITHIN_SECONDS
    assert unavailable is not None, f"never told that the retries ended: {caller.record}"
    assert unavailable >= RETRY_WINDOW_SECONDS - 1
    assert not caller.record.served
    abandoned = (("reason", "retries_exhausted"),)
    assert _eventually(stack, "dispatch_watchdog_callers_abandoned_total", abandoned) == 1.0
