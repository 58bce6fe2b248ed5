"""`make bench-calls`: N concurrent simulated calls against ONE agent worker.

For each level N (1, 2, 4, 8, 12, 16 by default) the bench starts N callers in a separate
process (`call-sim callers`), one joining every `RAMP_SECONDS`. Each caller hears the
greeting and waits at a barrier; when every caller is there they all start talking (caller
i after i × `STAGGER_SECONDS`), so every measured turn happens with N calls live. The
measured window runs from that barrier to the end of the last caller's last turn.

Per level it reports:

* added latency: `system_added_ms` of every caller turn (end to end as the caller measured
  it, minus the critical path of the simulated providers and our turn-detection windows;
  see latency.py), p50 and p95, and how much p95 grew over the N=1 level of the same run;
* CPU per call: CPU seconds of the worker's whole process tree in the window, divided by
  the window and by N (a fraction of one core);
* memory per call: peak PSS (and RSS) of the worker tree during the window minus the same
  tree idle after the warm-up call, divided by N. One-time costs (the WebRTC runtime, the
  VAD model) are paid by the warm-up: per call with the process executor, whose job process
  exits, once with the thread executor. Memory that later calls leave behind in a shared
  heap is counted against the calls, not hidden in a later "idle";
* failures: calls with no receptionist, no greeting or an unanswered turn; and apart,
  callers without a receptionist (none joined within 30 s, the dispatch watchdog's
  re-dispatches included). The worker's MAX_CALLS_PER_WORKER is lifted above every
  level, so this must be 0 at every level;
* the CPU of everything else on the machine in the same window: the callers' process, the
  LiveKit server and provider-sim share the same cores (nothing is subtracted).

Fixed simulated provider latencies: the call-sim defaults (STT endpointing 200 ms + final
100 ms, LLM TTFT 300 ms at 80 tokens/s, TTS TTFB 120 ms), no jitter. The worker keeps no
idle job processes (NUM_IDLE_PROCESSES=0), so each call starts its own process during the
ramp and the window holds only call work; its load threshold and the LiveKit server's
`agents.target_load` are lifted so they do not refuse calls (their gates are reported as
the peak `lk_agents_worker_load` seen).

Escalation stops after a level with a failed call or whose p95 added latency grew by more
than `MAX_P95_GROWTH_MS` over N=1.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from call_sim import catalog, render
from call_sim.caller import NO_RECEPTIONIST, Caller, CallerTiming, CallRecord, PlannedTurn
from call_sim.clients import ProviderSim, scrape
from call_sim.config import Settings
from call_sim.console import Console
from call_sim.floor import webrtc_floor
from call_sim.latency import ProviderProfile, TurnDetection, percentile
from call_sim.procstats import TreeSample, sample
from call_sim.report import analyse_call
from call_sim.runner import caller_timing, provider_profile, turn_detection
from call_sim.stack import Component, Stack, StackOptions, console_script
from call_sim.voice import CallerVoice
from call_sim.worker_metrics import parse

RAMP_SECONDS = 1.0
STAGGER_SECONDS = 0.25
SAMPLE_SECONDS = 0.5
# a scrape merges every job process's metric files and costs the worker CPU that would be
# counted against the calls; a Prometheus scrapes every 15-30 s
LOAD_SCRAPE_SECONDS = 5.0
MAX_P95_GROWTH_MS = 100.0
TARGET_CALLS_PER_CORE = 15
TARGET_P95_ADDED_MS = 50.0
TARGET_MB_PER_CALL = 60.0
SETTLE_SECONDS = 4.0


# ---- the callers' process ------------------------------------------------------------------


class CallersSpec(BaseModel):
    token_service_url: str
    scenario: str
    calls: int
    ramp_seconds: float
    stagger_seconds: float
    timing: dict[str, float]
    profile: dict[str, float]
    detection: dict[str, Any]
    out: Path


class TurnFigures(BaseModel):
    e2e_ms: float | None
    system_added_ms: float | None
    providers_ms: float | None
    inbound_ms: float | None  # caller's speech end → its audio reached the STT
    agent_ms: float | None  # STT final → the agent's first audio, beyond the providers
    outbound_ms: float | None  # the agent's first audio frame → the caller hears it


class CallFigures(BaseModel):
    errors: list[str]
    turns: list[TurnFigures]


class CallersResult(BaseModel):
    barrier_at: float  # wall clock: every caller greeted, the talking starts
    turns_done_at: float  # wall clock: the last caller's last turn answered
    calls: list[CallFigures]


async def _run_callers(spec: CallersSpec) -> CallersResult:
    scenario = catalog.load(spec.scenario)
    voice = CallerVoice.load()
    planned = [PlannedTurn(turn.caller, voice.speak(turn.caller), 0.3) for turn in scenario.turns]
    timing = CallerTiming(**spec.timing)
    arrived = 0
    everyone_here = asyncio.Event()
    barrier_at = 0.0

    def arrive() -> None:
        nonlocal arrived, barrier_at
        arrived += 1
        if arrived == spec.calls:
            barrier_at = time.time()
            everyone_here.set()

    async def one(index: int) -> CallRecord:
        at_barrier = False

        async def gate(turn: int) -> None:
            nonlocal at_barrier
            if turn == 0:
                at_barrier = True
                arrive()
                await everyone_here.wait()
                await asyncio.sleep(index * spec.stagger_seconds)

        await asyncio.sleep(index * spec.ramp_seconds)
        caller = Caller(spec.token_service_url, scenario.clinic, timing)
        try:
            return await caller.call(planned, turn_gate=gate, listen_after_seconds=10.0)
        finally:
            if not at_barrier:
                arrive()  # a caller that failed early must not hold the others back

    records = await asyncio.gather(*(one(index) for index in range(spec.calls)))
    profile = ProviderProfile(**spec.profile)
    detection = TurnDetection(**spec.detection)
    calls, done_at = [], barrier_at
    for record in records:
        _, turns = analyse_call(scenario, record, profile=profile, detection=detection)
        if record.turns and record.turns[-1].agent_audio_at is not None:
            done_at = max(done_at, record.turns[-1].agent_audio_at + record.wall_offset)
        calls.append(
            CallFigures(
                errors=record.errors,
                turns=[
                    TurnFigures(
                        e2e_ms=turn.e2e_ms,
                        system_added_ms=turn.breakdown.system_added_ms if turn.breakdown else None,
                        providers_ms=turn.breakdown.providers_ms if turn.breakdown else None,
                        inbound_ms=turn.inbound_ms,
                        agent_ms=turn.agent_ms,
                        outbound_ms=turn.outbound_ms,
                    )
                    for turn in turns
                ],
            )
        )
    return CallersResult(barrier_at=barrier_at, turns_done_at=done_at, calls=calls)


def command_callers(spec_path: Path) -> int:
    """The hidden `call-sim callers` command the bench runs in its own process."""
    spec = CallersSpec.model_validate_json(spec_path.read_text(encoding="utf-8"))
    result = asyncio.run(_run_callers(spec))
    spec.out.write_text(result.model_dump_json(), encoding="utf-8")
    return 0  # main exits with os._exit, past the rtc FFI's teardown


# ---- sampling the machine ------------------------------------------------------------------


@dataclass
class _Samples:
    times: list[float] = field(default_factory=list)
    by_name: dict[str, list[TreeSample]] = field(default_factory=dict)
    worker_load: list[tuple[float, float]] = field(default_factory=list)


class Sampler:
    """Samples CPU (and the worker's memory) of the named process trees twice a second."""

    def __init__(self, roots: dict[str, int], worker_metrics_url: str) -> None:
        self._roots = dict(roots)
        self._metrics_url = worker_metrics_url
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.samples = _Samples()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def watch(self, name: str, pid: int | None) -> None:
        with self._lock:
            if pid is None:
                self._roots.pop(name, None)
            else:
                self._roots[name] = pid

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last_load = 0.0
        while not self._stop.wait(SAMPLE_SECONDS):
            with self._lock:
                roots = dict(self._roots)
                now = time.time()
                self.samples.times.append(now)
                for name in set(self.samples.by_name) | set(roots):
                    series = self.samples.by_name.setdefault(name, [])
                    pid = roots.get(name)
                    series.append(
                        sample(pid, memory=name == "worker")
                        if pid is not None
                        else TreeSample(0, 0, 0, 0)
                    )
            if now - last_load >= LOAD_SCRAPE_SECONDS:
                last_load = now
                self._sample_load(now)

    def _sample_load(self, now: float) -> None:
        with contextlib.suppress(Exception):
            text = asyncio.run(scrape(self._metrics_url))
            loads = [v for (name, _), v in parse(text).items() if name == "lk_agents_worker_load"]
            if loads:
                with self._lock:
                    self.samples.worker_load.append((now, max(loads)))

    def _series(self, name: str) -> Iterator[tuple[float, TreeSample]]:
        with self._lock:
            return iter(
                list(zip(self.samples.times, self.samples.by_name.get(name, []), strict=False))
            )

    def cpu_between(self, name: str, start: float, end: float) -> float:
        """CPU seconds of a tree between two moments (linear between samples)."""
        points = [(t, s.cpu_seconds) for t, s in self._series(name) if s.processes]
        return max(0.0, _interpolate(points, end) - _interpolate(points, start))

    def peak_memory(self, name: str, start: float, end: float) -> tuple[float, float]:
        """Highest (PSS, RSS) MB of a tree between two moments."""
        inside = [s for t, s in self._series(name) if start <= t <= end]
        if not inside:
            return 0.0, 0.0
        return max(s.pss_mb for s in inside), max(s.rss_mb for s in inside)

    def peak_load(self, start: float, end: float) -> float | None:
        with self._lock:
            loads = [load for t, load in self.samples.worker_load if start <= t <= end]
        return max(loads) if loads else None


def _interpolate(points: list[tuple[float, float]], moment: float) -> float:
    if not points:
        return 0.0
    if moment <= points[0][0]:
        return points[0][1]
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        if t0 <= moment <= t1:
            return v0 + (v1 - v0) * (moment - t0) / (t1 - t0) if t1 > t0 else v1
    return points[-1][1]


# ---- the levels ----------------------------------------------------------------------------


def _bench_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "providers": "simulated",
            "num_idle_processes": 0,
            "max_calls_per_worker": 200,  # above every level: capacity never refuses
        }
    )


def _run_level(
    stack: Stack,
    settings: Settings,
    sampler: Sampler,
    scenario: str,
    calls: int,
    profile: ProviderProfile,
    detection: TurnDetection,
    workdir: Path,
    idle: TreeSample,
) -> dict[str, Any]:
    timing = caller_timing(settings)
    spec = CallersSpec(
        token_service_url=stack.urls.token_service,
        scenario=scenario,
        calls=calls,
        ramp_seconds=RAMP_SECONDS,
        stagger_seconds=STAGGER_SECONDS,
        timing={
            "turn_timeout_seconds": timing.turn_timeout_seconds,
            "pause_seconds": timing.pause_seconds,
            "agent_quiet_seconds": timing.agent_quiet_seconds,
            "speech_threshold_dbfs": timing.speech_threshold_dbfs,
        },
        profile=profile.__dict__,
        detection=detection.__dict__,
        out=workdir / f"callers-{calls}.json",
    )
    spec_path = workdir / f"callers-{calls}-spec.json"
    spec_path.write_text(spec.model_dump_json(), encoding="utf-8")
    log_path = workdir / f"callers-{calls}.log"
    callers = Component(
        name="callers",
        argv=[console_script("call-sim"), "callers", "--spec", str(spec_path)],
        env=dict(os.environ),
        log_path=log_path,
        ready=lambda: True,
        address="-",
    )
    callers.start()
    assert callers.process is not None
    sampler.watch("callers", callers.process.pid)
    try:
        returncode = callers.process.wait(timeout=600)
    finally:
        callers.stop(sig=signal.SIGKILL)
        sampler.watch("callers", None)
    if returncode != 0 or not spec.out.exists():
        raise RuntimeError(f"the callers' process failed: {log_path.read_text()[-3000:]}")
    result = CallersResult.model_validate_json(spec.out.read_text(encoding="utf-8"))
    start, end = result.barrier_at, result.turns_done_at
    window = max(end - start, 1e-6)
    added = [
        t.system_added_ms for c in result.calls for t in c.turns if t.system_added_ms is not None
    ]
    e2e = [t.e2e_ms for c in result.calls for t in c.turns if t.e2e_ms is not None]
    inbound = [t.inbound_ms for c in result.calls for t in c.turns if t.inbound_ms is not None]
    outbound = [t.outbound_ms for c in result.calls for t in c.turns if t.outbound_ms is not None]
    in_agent = [t.agent_ms for c in result.calls for t in c.turns if t.agent_ms is not None]
    failed = sum(1 for c in result.calls if c.errors)
    unserved = sum(
        1 for c in result.calls if any(error.startswith(NO_RECEPTIONIST) for error in c.errors)
    )
    worker_cpu = sampler.cpu_between("worker", start, end)
    pss, rss = sampler.peak_memory("worker", start, end)
    return {
        "calls": calls,
        "completed": calls - failed,
        "failed": failed,
        "callers_without_receptionist": unserved,
        "errors": sorted({error for c in result.calls for error in c.errors}),
        "turns": len(added),
        "window_seconds": round(window, 1),
        "e2e_p50_ms": percentile(e2e, 0.5),
        "e2e_p95_ms": percentile(e2e, 0.95),
        "added_p50_ms": percentile(added, 0.5),
        "added_p95_ms": percentile(added, 0.95),
        "added_max_ms": max(added) if added else None,
        "caller_to_stt_p50_ms": percentile(inbound, 0.5),
        "agent_p50_ms": percentile(in_agent, 0.5),
        "agent_p95_ms": percentile(in_agent, 0.95),
        "agent_to_caller_p50_ms": percentile(outbound, 0.5),
        "worker_cores": worker_cpu / window,
        "worker_cores_per_call": worker_cpu / window / calls,
        "worker_pss_mb_per_call": max(0.0, pss - idle.pss_mb) / calls,
        "worker_rss_mb_per_call": max(0.0, rss - idle.rss_mb) / calls,
        "worker_idle_pss_mb": idle.pss_mb,
        "callers_cores": sampler.cpu_between("callers", start, end) / window,
        "livekit_cores": sampler.cpu_between("livekit-server", start, end) / window,
        "provider_sim_cores": sampler.cpu_between("provider-sim", start, end) / window,
        "peak_worker_load": sampler.peak_load(start, end),
    }


def _conclusions(levels: list[dict[str, Any]], cores: int) -> dict[str, Any]:
    passing = [
        level
        for level in levels
        if level["failed"] == 0
        and level.get("added_p95_increase_ms") is not None
        and level["added_p95_increase_ms"] <= MAX_P95_GROWTH_MS
    ]
    best = max(passing, key=lambda level: level["calls"]) if passing else None
    absolute = [
        level
        for level in levels
        if level["failed"] == 0
        and level["added_p95_ms"] is not None
        and level["added_p95_ms"] <= MAX_P95_GROWTH_MS
    ]
    per_call_cpu = best["worker_cores_per_call"] if best else None
    return {
        "cores": cores,
        "highest_calls_within_p95_growth": best["calls"] if best else 0,
        "highest_calls_per_core_within_p95_growth": (best["calls"] / cores) if best else 0.0,
        "highest_calls_with_absolute_p95_added_within_100ms": max(
            (level["calls"] for level in absolute), default=0
        ),
        "worker_cpu_bound_calls_per_core": (1.0 / per_call_cpu) if per_call_cpu else None,
        "targets": {
            "calls_per_core": TARGET_CALLS_PER_CORE,
            "p95_added_ms": TARGET_P95_ADDED_MS,
            "mb_per_call": TARGET_MB_PER_CALL,
        },
    }


def command_bench(
    settings: Settings,
    scenario_name: str,
    levels: list[int],
    report_path: Path | None,
    console: Console,
) -> int:
    settings = _bench_settings(settings)
    scenario = catalog.load(scenario_name)
    workdir = Path(tempfile.mkdtemp(prefix="call-sim-bench-"))
    stack = Stack(settings, console, StackOptions(scenario_yaml=scenario.provider_script_yaml()))
    try:
        stack.start()
        assert stack.urls.provider_sim is not None
        state = asyncio.run(ProviderSim(stack.urls.provider_sim).state())
        profile = provider_profile(state)
        detection = turn_detection(stack)
        floor = asyncio.run(
            webrtc_floor(
                stack.urls.livekit_ws, stack.livekit_api_key, stack.livekit_secret, console
            )
        )
        results = _escalate(
            stack, settings, scenario.name, levels, profile, detection, workdir, console
        )
    finally:
        stack.stop()
    summary = {
        "scenario": scenario.name,
        "job_executor": settings.job_executor,
        "provider_latencies_ms": {key: value * 1000 for key, value in profile.__dict__.items()},
        "turn_detection": detection.__dict__,
        "levels": results,
        "webrtc_floor": None if floor is None else floor.as_dict(),
        "conclusions": _conclusions(results, os.cpu_count() or 1),
    }
    console.say()
    console.say(render.bench_conclusions(summary))
    report = report_path or workdir / "bench-calls.json"
    report.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    console.ok("report", str(report))
    return 0


def _escalate(
    stack: Stack,
    settings: Settings,
    scenario: str,
    levels: list[int],
    profile: ProviderProfile,
    detection: TurnDetection,
    workdir: Path,
    console: Console,
) -> list[dict[str, Any]]:
    roots: dict[str, int] = {}
    for component, name in (
        ("agent-worker", "worker"),
        ("livekit-server", "livekit-server"),
        ("provider-sim", "provider-sim"),
    ):
        pid = stack.component(component).pid
        if pid is not None:
            roots[name] = pid
    results: list[dict[str, Any]] = []
    with Sampler(roots, stack.urls.worker_metrics) as sampler:
        worker_pid = stack.worker_pid
        assert worker_pid is not None
        console.step("warm-up", "one call, not measured")
        _run_level(
            stack, settings, sampler, scenario, 1, profile, detection, workdir, sample(worker_pid)
        )
        time.sleep(SETTLE_SECONDS)
        idle = sample(worker_pid)
        console.say(render.bench_header(settings.job_executor))
        for calls in levels:
            time.sleep(SETTLE_SECONDS)
            level = _run_level(
                stack, settings, sampler, scenario, calls, profile, detection, workdir, idle
            )
            baseline = results[0]["added_p95_ms"] if results else level["added_p95_ms"]
            level["added_p95_increase_ms"] = (
                None
                if level["added_p95_ms"] is None or baseline is None
                else level["added_p95_ms"] - baseline
            )
            results.append(level)
            console.say(render.bench_row(level))
            growth = level["added_p95_increase_ms"]
            if level["failed"] or (growth is not None and growth > MAX_P95_GROWTH_MS):
                console.step("bench", f"stopping after N={calls}: a failure or p95 grew > 100 ms")
                break
    return results
