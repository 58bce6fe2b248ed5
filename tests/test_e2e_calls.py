"""Whole calls through the real system, offline: every packaged call scenario.

A simulated caller (Piper voice, LiveKit rtc SDK) gets a token from the token service,
which dispatches the real agent worker; the worker runs its production Deepgram, OpenAI and
Cartesia plugins against provider-sim, books through the real scheduling API, and talks over
a real LiveKit server on loopback. Each scenario's expectations are checked by call-sim,
including the call record the worker stores after the call (its outcome and summary), and
the bookings are looked up again here, straight from the scheduling API.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from call_sim import catalog, render
from call_sim.runner import ScenarioRunner
from call_sim.voice import CallerVoice
from call_sim.worker_metrics import STAGE_HISTOGRAM, histogram, parse

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / ".artifacts" / "calls"


@pytest.fixture(scope="session")
def scenario_runner(call_stack: Any) -> ScenarioRunner:
    return ScenarioRunner(call_stack, call_stack.settings, CallerVoice.load(), call_stack.console)


def _bookings(call_stack: Any, clinic: str, phone: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{call_stack.urls.scheduling_api}/v1/clinics/{clinic}/bookings",
        params={"phone": phone},
        headers={"Authorization": f"Bearer {call_stack.scheduling_token}"},
        timeout=10,
    )
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["bookings"]
    return found


@pytest.mark.parametrize("name", catalog.names())
async def test_call_scenario_through_the_real_stack(
    name: str, call_stack: Any, scenario_runner: ScenarioRunner
) -> None:
    scenario = catalog.load(name)
    report = await scenario_runner.run(scenario)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))

    failed = [check for check in report["checks"] if not check["passed"]]
    assert not failed, f"{name} failed:\n{render.full(report)}"
    for expected in scenario.expect.bookings:
        stored = _bookings(call_stack, scenario.clinic, expected.patient_phone)
        assert any(
            booking["status"] == expected.status
            and (
                expected.appointment_type is None
                or booking["appointment_type"] == expected.appointment_type
            )
            for booking in stored
        ), f"no {expected.status} {expected.appointment_type} booking stored: {stored}"
    if scenario.turns:
        assert len(report["turns"]) == len(scenario.turns)
        assert all(turn["e2e_ms"] is not None for turn in report["turns"])


def test_stage_metrics_appeared_on_the_worker(call_stack: Any) -> None:
    """After the calls above, the worker's /metrics carries every stage with observations."""
    samples = parse(httpx.get(call_stack.urls.worker_metrics, timeout=10).text)
    for stage in ("end_of_utterance", "transcription", "llm_ttft", "tts_ttfb", "end_to_end"):
        observed = histogram(samples, STAGE_HISTOGRAM, {"stage": stage})
        assert observed.count > 0, f"no {stage} observation on the worker's /metrics"
        assert observed.total > 0


@pytest.fixture(scope="module")
def thread_stack(
    tmp_path_factory: pytest.TempPathFactory,
    call_stack_launcher: Callable[..., AbstractContextManager[Any]],
) -> Iterator[Any]:
    """The same system with the worker's calls as threads of one process
    (`JOB_EXECUTOR=thread`) and the `fast` provider profile, started only for the test
    below (the session's stack runs every scenario with the `typical` one)."""
    workdir = tmp_path_factory.mktemp("thread-stack")
    with call_stack_launcher(workdir, job_executor="thread", provider_profile="fast") as stack:
        yield stack


async def test_booking_call_with_the_thread_executor_and_fast_providers(
    thread_stack: Any,
) -> None:
    """Calls as threads share one process: the booking lands, and the job's stage metrics
    reach the same /metrics as with one process per call. The providers play the `fast`
    profile, and the call still books."""
    runner = ScenarioRunner(
        thread_stack, thread_stack.settings, CallerVoice.load(), thread_stack.console
    )
    scenario = catalog.load("booking")
    report = await runner.run(scenario)
    failed = [check for check in report["checks"] if not check["passed"]]
    assert not failed, f"booking failed with JOB_EXECUTOR=thread:\n{render.full(report)}"
    assert "`fast` profile" in report["providers"]
    assert report["provider_latencies_ms"]["llm_ttft"] == pytest.approx(150.0)
    assert report["provider_latencies_ms"]["stt_endpointing"] == pytest.approx(100.0)
    expected = scenario.expect.bookings[0]
    stored = _bookings(thread_stack, scenario.clinic, expected.patient_phone)
    assert any(booking["status"] == expected.status for booking in stored), stored
    async with httpx.AsyncClient(timeout=10) as client:
        samples = parse((await client.get(thread_stack.urls.worker_metrics)).text)
    assert histogram(samples, STAGE_HISTOGRAM, {"stage": "end_to_end"}).count > 0
    assert samples[("receptionist_sessions_total", (("outcome", "started"),))] == 1.0
