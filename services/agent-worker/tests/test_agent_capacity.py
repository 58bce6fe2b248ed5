"""The worker's load in calls, checked against the framework's own availability rule."""

from __future__ import annotations

import pytest
from receptionist.capacity import capacity_used, reported_load
from receptionist.config import Settings


def framework_accepts(
    load: float, *, active: int, reserved: int, threshold: float, idle: int
) -> bool:
    """LiveKit Agents 1.8's `_get_effective_load() < load_threshold` (worker.py)."""
    estimate = load / active if active else threshold / max(idle, 1)
    return load + reserved * estimate < threshold


@pytest.mark.parametrize("max_calls", [1, 2, 3, 4, 7, 10, 25, 49])
@pytest.mark.parametrize("threshold", [0.7, 0.5, 1.0])
def test_a_worker_takes_exactly_max_calls_however_they_arrive(
    max_calls: int, threshold: float
) -> None:
    for active in range(max_calls + 2):
        for reserved in range(max_calls + 2 - active):
            load = reported_load(
                active_calls=active,
                max_calls=max_calls,
                cpu=0.0,
                cpu_limit=0.9,
                load_threshold=threshold,
            )
            accepted = framework_accepts(
                load, active=active, reserved=reserved, threshold=threshold, idle=max_calls
            )
            assert accepted == (active + reserved < max_calls), (active, reserved)


def test_cpu_is_a_second_guard() -> None:
    busy = reported_load(active_calls=0, max_calls=4, cpu=0.95, cpu_limit=0.9, load_threshold=0.7)
    assert not framework_accepts(busy, active=0, reserved=0, threshold=0.7, idle=4)
    assert capacity_used(active_calls=1, max_calls=4, cpu=0.45, cpu_limit=0.9) == 0.5
    assert capacity_used(active_calls=3, max_calls=4, cpu=0.1, cpu_limit=0.9) == 0.75


def test_a_worker_one_call_short_of_full_stays_below_livekits_target_load() -> None:
    """The server routes jobs only to workers reporting less than agents.target_load."""
    load = reported_load(active_calls=3, max_calls=4, cpu=0.0, cpu_limit=0.9, load_threshold=0.7)
    assert load < 0.7


def test_idle_processes_follow_the_call_capacity() -> None:
    assert Settings(max_calls_per_worker=6).idle_processes == 6
    assert Settings(max_calls_per_worker=6, num_idle_processes=2).idle_processes == 2
