"""The simulated phone line: G.711 μ-law bit-exact with the standard codec, the telephone
band only, and a caller token that looks like LiveKit SIP's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from call_sim.telephone import (
    PhoneCall,
    band_limit,
    phone_caller_token,
    telephone_channel,
    ulaw_decode,
    ulaw_encode,
)
from call_sim.voice import SAMPLE_RATE
from livekit import api

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the reference G.711 codec (stdlib up to 3.12)


def test_ulaw_matches_the_standard_codec_for_every_sample_value() -> None:
    every = np.arange(-32768, 32768, dtype=np.int16)
    assert ulaw_encode(every).tobytes() == audioop.lin2ulaw(every.tobytes(), 2)
    codes = np.arange(256, dtype=np.uint8)
    reference = np.frombuffer(audioop.ulaw2lin(codes.tobytes(), 2), dtype=np.int16)
    assert np.array_equal(ulaw_decode(codes), reference)


def _tone(hz: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    return (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def _level(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))


def test_only_the_telephone_band_gets_through() -> None:
    assert _level(band_limit(_tone(1000), SAMPLE_RATE)) > 0.95 * _level(_tone(1000))
    assert _level(band_limit(_tone(6000), SAMPLE_RATE)) < 0.01 * _level(_tone(6000))
    assert _level(band_limit(_tone(100), SAMPLE_RATE)) < 0.01 * _level(_tone(100))


def test_the_channel_keeps_speech_band_audio_at_48_khz() -> None:
    tone = _tone(1000)
    line = telephone_channel(tone)
    assert abs(line.size - tone.size) <= 6
    assert line.dtype == np.int16
    assert 0.85 * _level(tone) < _level(line) < 1.15 * _level(tone)
    assert _level(telephone_channel(_tone(8000))) < 0.05 * _level(_tone(8000))


def test_the_token_is_a_sip_participant_dispatched_like_the_clinic_rule() -> None:
    call = PhoneCall("+15125550199", "+15125550142", "SCL_test")
    token = phone_caller_token(
        "key", "a-secret-of-at-least-32-characters!!", room_name="call-bright-smile-x",
        call=call, agent_name="bright-smile-receptionist", clinic_id="bright-smile",
    )  # fmt: skip
    claims = api.TokenVerifier("key", "a-secret-of-at-least-32-characters!!").verify(token)
    assert claims.kind == "sip"
    assert claims.attributes["sip.phoneNumber"] == "+15125550199"
    assert claims.attributes["sip.trunkPhoneNumber"] == "+15125550142"
    assert claims.attributes["sip.callID"] == "SCL_test"
    assert claims.room_config is not None
    [dispatch] = claims.room_config.agents
    assert dispatch.agent_name == "bright-smile-receptionist"
    assert dispatch.metadata == '{"clinic_id":"bright-smile"}'


def test_keypad_turns_need_a_phone_and_have_no_stt_line() -> None:
    from call_sim.scenario import CallScenarioError, parse_scenario_text
    from provider_sim.scenario import parse_scenario

    text = """
name: keys
channel: {channel}
turns:
  - caller: "Hello"
  - caller: "(types 5125550166)"
    keypad: "5125550166#"
  - caller: "Goodbye"
"""
    with pytest.raises(CallScenarioError, match="keypad turns need"):
        parse_scenario_text(text.format(channel="web"))
    scenario = parse_scenario_text(text.format(channel="phone"))
    script = parse_scenario(scenario.provider_script_yaml())
    assert script.caller_lines == ["Hello", "Goodbye"]  # the keys never reach the STT
