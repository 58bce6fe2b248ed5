"""Pure pieces: seeded latency, energy endpointing, audio helpers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from provider_sim.audio import (
    encode,
    level_dbfs,
    resample,
    spread_words,
    synthetic_speech,
)
from provider_sim.endpointing import EndpointKind, EnergyEndpointer
from provider_sim.latency import LatencyModel, LatencyProfile, Stage

PROFILE = LatencyProfile(
    stt_final_delay=0.1,
    llm_ttft=0.3,
    llm_token_interval=0.0125,
    tts_ttfb=0.12,
    tts_realtime_factor=0.2,
)


def test_latency_without_jitter_is_the_configured_value() -> None:
    model = LatencyModel(PROFILE, seed=1, jitter=0.0)
    assert model.delay(Stage.LLM_TTFT, "any") == 0.3
    assert model.tts_generation_time(2.0, "text") == pytest.approx(0.4)


def test_jittered_latency_is_deterministic_bounded_and_seed_dependent() -> None:
    model = LatencyModel(PROFILE, seed=7, jitter=0.2)
    again = LatencyModel(PROFILE, seed=7, jitter=0.2)
    other_seed = LatencyModel(PROFILE, seed=8, jitter=0.2)
    keys = [f"request-{i}" for i in range(200)]
    delays = [model.delay(Stage.LLM_TTFT, key) for key in keys]
    assert delays == [again.delay(Stage.LLM_TTFT, key) for key in keys]
    assert delays != [other_seed.delay(Stage.LLM_TTFT, key) for key in keys]
    assert all(0.24 <= delay <= 0.36 for delay in delays)
    assert max(delays) - min(delays) > 0.1  # the jitter really spreads the values


def test_jitter_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="jitter"):
        LatencyModel(PROFILE, seed=0, jitter=1.5)


def tone(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.2 * 32767 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def silence(seconds: float, rate: int = 16000) -> np.ndarray:
    return np.zeros(round(seconds * rate), np.int16)


def endpointer() -> EnergyEndpointer:
    return EnergyEndpointer(sample_rate=16000, threshold_dbfs=-40.0, endpoint_silence=0.2)


def test_speech_is_found_between_silences_with_its_times() -> None:
    detector = endpointer()
    audio = np.concatenate([silence(0.5), tone(1.0), silence(0.5)])
    events = detector.push(audio.tobytes())
    assert [event.kind for event in events] == [EndpointKind.SPEECH_START, EndpointKind.SPEECH_END]
    assert events[0].at == pytest.approx(0.5, abs=0.021)
    assert events[1].at == pytest.approx(1.5, abs=0.021)


def test_a_pause_shorter_than_the_endpoint_does_not_end_the_utterance() -> None:
    detector = endpointer()
    events = detector.push(np.concatenate([tone(0.5), silence(0.15), tone(0.5)]).tobytes())
    assert [event.kind for event in events] == [EndpointKind.SPEECH_START]
    assert detector.in_speech


def test_gap_before_the_next_utterance_is_reported() -> None:
    detector = endpointer()
    events = detector.push(np.concatenate([tone(0.3), silence(1.2), tone(0.3)]).tobytes())
    starts = [event for event in events if event.kind is EndpointKind.SPEECH_START]
    assert len(starts) == 2
    assert starts[1].silence_before == pytest.approx(1.2, abs=0.041)


def test_audio_split_at_odd_byte_boundaries_gives_the_same_events() -> None:
    audio = np.concatenate([silence(0.2), tone(0.6), silence(0.4)]).tobytes()
    whole = endpointer().push(audio)
    detector = endpointer()
    pieces = [detector.push(audio[i : i + 333]) for i in range(0, len(audio), 333)]
    assert [event for piece in pieces for event in piece] == whole


def test_a_sender_that_stops_streaming_ends_the_utterance_once_idle_long_enough() -> None:
    detector = endpointer()
    detector.push(np.concatenate([tone(0.5), silence(0.1)]).tobytes())
    assert detector.idle(0.05) == []  # 0.1 s heard + 0.05 s idle < 0.2 s endpoint
    (end,) = detector.idle(0.15)
    assert end.kind is EndpointKind.SPEECH_END
    assert end.at == pytest.approx(0.5, abs=0.021)  # where the voice stopped
    assert detector.position == pytest.approx(0.6)  # missing audio is not invented


def test_finalize_forces_the_end_of_the_utterance() -> None:
    detector = endpointer()
    detector.push(tone(0.5).tobytes())
    assert [event.kind for event in detector.force_end()] == [EndpointKind.SPEECH_END]
    assert detector.force_end() == []


def test_clicks_do_not_start_speech() -> None:
    detector = endpointer()
    assert detector.push(np.concatenate([tone(0.02), silence(0.3)]).tobytes()) == []


def test_resampling_keeps_duration_and_pitch_and_removes_aliasing() -> None:
    rate_in, rate_out = 48000, 16000
    low = tone(1.0, rate_in)
    out = resample(low, rate_in, rate_out)
    assert out.size == 16000
    spectrum = np.abs(np.fft.rfft(out.astype(float)))
    assert np.argmax(spectrum) == pytest.approx(220, abs=2)
    t = np.arange(rate_in) / rate_in
    high = (0.2 * 32767 * np.sin(2 * np.pi * 15000 * t)).astype(np.int16)  # above 8 kHz
    assert level_dbfs(resample(high, rate_in, rate_out)) < level_dbfs(high) - 30


def test_synthetic_speech_has_realistic_length_words_and_pauses() -> None:
    text = "Thank you for calling. How can I help?"
    audio, words = synthetic_speech(text, 24000, ms_per_character=65)
    seconds = audio.size / 24000
    assert len(text) * 0.065 * 0.9 < seconds < len(text) * 0.065 * 1.5
    assert [word.word for word in words] == text.split()
    assert all(a.end <= b.start for a, b in itertools.pairwise(words))
    assert -35 < level_dbfs(audio) < -15
    again, _ = synthetic_speech(text, 24000, ms_per_character=65)
    assert np.array_equal(audio, again)


def test_encodings_and_word_spreading() -> None:
    samples = np.array([0, 16384, -32768], np.int16)
    assert encode(samples, "pcm_s16le") == samples.astype("<i2").tobytes()
    assert np.frombuffer(encode(samples, "pcm_f32le"), "<f4").tolist() == [0.0, 0.5, -1.0]
    with pytest.raises(ValueError, match="pcm_mulaw"):
        encode(samples, "pcm_mulaw")
    words = spread_words("one three", 1.0)
    assert [word.word for word in words] == ["one", "three"]
    assert words[0].start == 0.0
    assert words[-1].end <= 1.0
