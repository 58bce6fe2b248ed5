"""The caller's audio: resampling and pause capping."""

from __future__ import annotations

import numpy as np
from call_sim.voice import FRAME_SAMPLES, SAMPLE_RATE, cap_pauses, resample_linear


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.int16)


def test_long_pauses_are_capped_and_the_ends_trimmed() -> None:
    audio = np.concatenate(
        [
            _silence(0.3),
            _tone(0.5),
            _silence(0.6),
            _tone(0.5),
            _silence(0.1),
            _tone(0.2),
            _silence(1.0),
        ]
    )
    capped = cap_pauses(audio, max_pause_seconds=0.15)
    assert capped.size == round((0.5 + 0.15 + 0.5 + 0.1 + 0.2) * SAMPLE_RATE)
    frames = capped.reshape(-1, FRAME_SAMPLES)
    assert np.abs(frames[0]).max() > 1000
    assert np.abs(frames[-1]).max() > 1000


def test_silence_only_becomes_nothing() -> None:
    assert cap_pauses(_silence(1.0)).size == 0


def test_resampling_keeps_the_duration() -> None:
    source = np.arange(22050, dtype=np.int16)
    assert resample_linear(source, 22050, SAMPLE_RATE).size == SAMPLE_RATE
    assert resample_linear(source, 22050, 22050) is not None
