"""Fixtures for the provider-sim suite: the simulator as real processes, caller speech."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from call_sim.stack import Launcher
from provider_sim.audio import Int16Array, resample
from provider_sim.speech.piper_tts import PiperSynthesizer

TEST_SCENARIO = """
name: sim-test-booking
description: The scenario the provider-sim tests run against.
fallback_reply: "Sorry, I did not catch that."
greeting:
  - say: "Thank you for calling Bright Smile Dental. How can I help?"
turns:
  - caller: "I would like to book a cleaning appointment next Tuesday morning."
    model:
      - say: "Let me check what we have."
        tool_calls:
          - name: check_availability
            arguments: {service: cleaning, date: "2026-12-01", part_of_day: morning}
      - say: "I have {{ check_availability.slots.0.label }}. Does that work?"
  - caller: "My name is Maria Garcia."
    model:
      - tool_calls:
          - name: book_appointment
            arguments:
              slot_id: "{{ check_availability.slots.0.slot_id }}"
              patient_name: Maria Garcia
              notes: "new patient, \\"quoted\\" text, ünïcode"
          - name: send_confirmation
            arguments: {channel: sms}
      - say: "You're booked. Your reference is {{ book_appointment | regex: ref=(\\\\w+) }}."
"""

# Latencies are zero so tests wait only for the behaviour they check; the lower-bound
# latency test starts its own simulator.
FAST = {
    "SIM_LLM_TTFT_MS": "0",
    "SIM_LLM_TOKENS_PER_SECOND": "100000",
    "SIM_TTS_TTFB_MS": "0",
    "SIM_TTS_REALTIME_FACTOR": "0",
    "SIM_STT_FINAL_DELAY_MS": "0",
    "LOG_LEVEL": "INFO",
}
SCRIPTED = {
    **FAST,
    "SIM_STT_MODE": "scripted",
    "SIM_TTS_MODE": "synthetic",
    "SIM_API_KEY": "sim-test-key",
}
SPEECH = {**FAST, "SIM_STT_MODE": "pocketsphinx", "SIM_TTS_MODE": "piper"}


@pytest.fixture(scope="session")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "sim-test.yaml"
    path.write_text(TEST_SCENARIO, encoding="utf-8")
    return path


def start_sim(launcher: Launcher, name: str, scenario: Path, timeout: float = 30, **env: str):
    """A provider-sim process playing `scenario`, with `env` (SIM_* settings) added."""
    return launcher.start(
        ["provider-sim"], name=name, env={"SIM_SCENARIO": str(scenario), **env}, timeout=timeout
    )


@pytest.fixture(scope="session")
def scripted_sim(session_services, scenario_file: Path):
    """provider-sim with scripted recognition and synthetic speech."""
    return start_sim(session_services, "provider-sim-scripted", scenario_file, **SCRIPTED)


@pytest.fixture(scope="session")
def speech_sim(session_services, scenario_file: Path):
    """provider-sim with real offline speech: pocketsphinx recognition, Piper synthesis."""
    return start_sim(session_services, "provider-sim-speech", scenario_file, timeout=60, **SPEECH)


@pytest.fixture(name="start_sim")
def start_sim_fixture():
    """`start_sim(launcher, name, scenario_file, **SIM_settings)` for a test's own simulator."""
    return start_sim


@pytest.fixture(scope="session")
def piper() -> PiperSynthesizer:
    return PiperSynthesizer.load()


@pytest.fixture(scope="session")
def caller_speech(piper: PiperSynthesizer) -> Callable[[str, int], Int16Array]:
    """Speech for a caller line at a sample rate, followed by a second of silence."""

    def speak(text: str, sample_rate: int) -> Int16Array:
        speech = piper.synthesize(text, piper.sample_rate)
        return np.concatenate(
            [resample(speech, piper.sample_rate, sample_rate), np.zeros(sample_rate, np.int16)]
        )

    return speak


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
