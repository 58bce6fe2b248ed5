"""Bursts of simultaneous callers against idle workers at their configured capacity.

LiveKit Agents estimates each job it has accepted but not started; with the framework's
defaults a worker with one idle process refused the second of two simultaneous calls and
the LiveKit server never retried. With the worker's load counted in calls
(`MAX_CALLS_PER_WORKER`, `receptionist.capacity`) a burst of exactly W × C callers is
served completely, each worker taking C of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from call_sim.waiting import burst
from call_sim.worker_metrics import parse

pytestmark = pytest.mark.slow

CALLS_PER_WORKER = 3
# generous: two shared cores, several job processes starting at once
AGENT_TIMEOUT_SECONDS = 60.0


def _calls_started(stack: Any, worker: str) -> float:
    _health, metrics_url = stack.worker_urls(worker)
    samples = parse(httpx.get(metrics_url, timeout=10).text)
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "receptionist_sessions_total" and ("outcome", "started") in labels
    )


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_burst_at_capacity_is_served_completely(
    workers: int,
    tmp_path: Path,
    call_stack_launcher: Callable[..., AbstractContextManager[Any]],
) -> None:
    with call_stack_launcher(
        tmp_path, workers=workers, max_calls_per_worker=CALLS_PER_WORKER
    ) as stack:
        records = await burst(
            stack.urls.token_service,
            workers * CALLS_PER_WORKER,
            agent_timeout=AGENT_TIMEOUT_SECONDS,
        )
        unserved = [record.room_name or record.error for record in records if not record.served]
        assert not unserved, f"{len(unserved)} callers never got a receptionist: {unserved}"
        assert len({record.agent_identity for record in records}) == len(records)
        per_worker = Counter(
            {worker: _calls_started(stack, worker) for worker in stack.worker_names}
        )
        assert per_worker == Counter(dict.fromkeys(stack.worker_names, float(CALLS_PER_WORKER)))
