"""How full a worker is: its calls over MAX_CALLS_PER_WORKER, with CPU as a second guard.

LiveKit Agents decides availability from `load_fnc` plus an estimate for every job it has
accepted but not yet started (`worker.py`, `_get_effective_load`): with calls running, each
reserved job is estimated at `load / active_jobs`; with none, at `load_threshold /
num_idle_processes`. We report `LOAD_THRESHOLD × calls / MAX_CALLS_PER_WORKER`, so both
estimates are exactly one call's share, and run `MAX_CALLS_PER_WORKER` idle processes.
The worker is then FULL exactly when active + reserved calls reach MAX_CALLS_PER_WORKER,
burst or not. A sliver of a call (`_BOUNDARY_MARGIN`) keeps the comparison at the boundary
on the full side whatever the floating-point rounding.

The load is scaled to LOAD_THRESHOLD, not to 1, because the LiveKit server routes a job
only to workers that report less than its `agents.target_load` (default 0.7, the same as
LOAD_THRESHOLD's default): a worker one call short of full must still look below it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from livekit.agents.utils.hw import get_cpu_monitor

from .metrics import get_metrics

_BOUNDARY_MARGIN = 0.01  # in calls
CPU_SAMPLE_SECONDS = 0.5
CPU_SAMPLES_AVERAGED = 5


def capacity_used(*, active_calls: int, max_calls: int, cpu: float, cpu_limit: float) -> float:
    """The fraction of this worker's capacity in use, 1.0 = full: the larger of its call
    slots in use and its CPU over the CPU guard."""
    return max(active_calls / max_calls, cpu / cpu_limit)


def reported_load(
    *, active_calls: int, max_calls: int, cpu: float, cpu_limit: float, load_threshold: float
) -> float:
    """What `load_fnc` returns: `capacity_used` scaled so that full = `load_threshold`."""
    calls = (active_calls + _BOUNDARY_MARGIN) / max_calls
    return load_threshold * max(calls, cpu / cpu_limit)


class _HasActiveJobs(Protocol):
    @property
    def active_jobs(self) -> Sequence[object]: ...


class CpuSampler:
    """A moving average of the pod's CPU use (0..1 of its cgroup limit, else the machine),
    sampled on a daemon thread so `load_fnc` never blocks on a measurement."""

    def __init__(self) -> None:
        self._monitor = get_cpu_monitor()
        self._samples: list[float] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True, name="cpu_sampler")
        self._thread.start()

    def _run(self) -> None:
        while True:
            value = self._monitor.cpu_percent(interval=CPU_SAMPLE_SECONDS)
            with self._lock:
                self._samples = [*self._samples[-(CPU_SAMPLES_AVERAGED - 1) :], value]

    def average(self) -> float:
        with self._lock:
            return sum(self._samples) / len(self._samples) if self._samples else 0.0


class CapacityLoad:
    """The worker's `load_fnc`; also publishes `receptionist_worker_capacity_used_ratio`,
    the figure the HPA scales on."""

    def __init__(self, *, max_calls: int, cpu_limit: float, load_threshold: float) -> None:
        self.max_calls = max_calls
        self.cpu_limit = cpu_limit
        self.load_threshold = load_threshold
        self._cpu: CpuSampler | None = None

    def __call__(self, server: _HasActiveJobs) -> float:
        if self._cpu is None:  # first call: in the worker process, after any fork
            self._cpu = CpuSampler()
        active, cpu = len(server.active_jobs), self._cpu.average()
        metrics = get_metrics()
        metrics.capacity_used.set(
            capacity_used(
                active_calls=active, max_calls=self.max_calls, cpu=cpu, cpu_limit=self.cpu_limit
            )
        )
        metrics.capacity_calls.set(self.max_calls)
        return reported_load(
            active_calls=active,
            max_calls=self.max_calls,
            cpu=cpu,
            cpu_limit=self.cpu_limit,
            load_threshold=self.load_threshold,
        )
