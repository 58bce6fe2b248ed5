"""Provider profiles: `SIM_PROVIDER_PROFILE` sets the latencies the stand-ins behave with."""

from __future__ import annotations

import json

import numpy as np
import pytest
from provider_sim.app import create_app
from provider_sim.config import ProviderProfile, Settings
from pydantic import ValidationError
from starlette.testclient import TestClient

FAST_SECONDS = {"stt_final_delay": 0.05, "llm_ttft": 0.15, "llm_token_interval": 0.005}
TYPICAL_SECONDS = {"stt_final_delay": 0.1, "llm_ttft": 0.3, "llm_token_interval": 0.0125}


def test_the_default_profile_is_today_s_figures() -> None:
    settings = Settings()
    assert settings.sim_provider_profile is ProviderProfile.TYPICAL
    assert (settings.sim_stt_endpointing_ms, settings.sim_stt_final_delay_ms) == (200.0, 100.0)
    assert (settings.sim_llm_ttft_ms, settings.sim_llm_tokens_per_second) == (300.0, 80.0)
    assert settings.sim_tts_ttfb_ms == 120.0


def test_the_fast_profile_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_PROVIDER_PROFILE", "fast")
    settings = Settings()
    assert (settings.sim_stt_endpointing_ms, settings.sim_stt_final_delay_ms) == (100.0, 50.0)
    assert (settings.sim_llm_ttft_ms, settings.sim_llm_tokens_per_second) == (150.0, 200.0)
    assert settings.sim_tts_ttfb_ms == 60.0


def test_a_latency_set_on_its_own_overrides_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_PROVIDER_PROFILE", "fast")
    monkeypatch.setenv("SIM_LLM_TTFT_MS", "400")
    settings = Settings()
    assert settings.sim_llm_ttft_ms == 400.0
    assert settings.sim_tts_ttfb_ms == 60.0


def test_an_unknown_profile_is_refused_with_the_choices() -> None:
    with pytest.raises(ValidationError, match="'typical' or 'fast'"):
        Settings(sim_provider_profile="cheap")


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * 16000)) / 16000
    return (0.2 * 32767 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * 16000), np.int16)


def _finals_for_a_pause_of(seconds: float, profile: ProviderProfile) -> int:
    """Speech, a pause, speech, a long silence: how many utterances the Deepgram stand-in
    ends on the wire. Endpointing runs on audio time, so this holds under any CPU load."""
    app = create_app(Settings(sim_provider_profile=profile, sim_stt_turn_gap_ms=10.0))
    audio = np.concatenate([_tone(0.5), _silence(seconds), _tone(0.5), _silence(1.0)])
    with (
        TestClient(app) as client,
        client.websocket_connect(
            "/v1/listen?encoding=linear16&sample_rate=16000&endpointing=10",
            headers={"Authorization": "Token k"},
        ) as ws,
    ):
        ws.send_bytes(audio.tobytes())
        ws.send_text(json.dumps({"type": "CloseStream"}))
        messages = []
        while (message := ws.receive())["type"] == "websocket.send":
            messages.append(json.loads(message["text"]))
    return sum(1 for m in messages if m.get("type") == "Results" and m.get("speech_final"))


def test_the_profile_sets_the_stt_endpointing_heard_on_the_wire() -> None:
    assert _finals_for_a_pause_of(0.15, ProviderProfile.TYPICAL) == 1  # 200 ms endpointing
    assert _finals_for_a_pause_of(0.15, ProviderProfile.FAST) == 2  # 100 ms endpointing


@pytest.mark.parametrize(
    ("profile", "seconds", "tts_ttfb"),
    [(ProviderProfile.TYPICAL, TYPICAL_SECONDS, 0.12), (ProviderProfile.FAST, FAST_SECONDS, 0.06)],
)
def test_the_latency_model_the_stand_ins_use_follows_the_profile(
    profile: ProviderProfile, seconds: dict[str, float], tts_ttfb: float
) -> None:
    with TestClient(create_app(Settings(sim_provider_profile=profile))) as client:
        state = client.get("/sim/state").json()
    assert state["provider_profile"] == profile.value
    latency = state["latency_seconds"]
    for name, value in seconds.items():
        assert latency[name] == pytest.approx(value)
    assert latency["tts_ttfb"] == pytest.approx(tts_ttfb)
