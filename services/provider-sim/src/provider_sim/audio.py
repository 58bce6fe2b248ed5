"""Pure audio helpers: levels, resampling, encodings and synthetic speech-like audio."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Int16Array = npt.NDArray[np.int16]

_WORD = re.compile(r"\S+")
_PAUSE_AFTER = {",": 3.0, ";": 3.0, ":": 3.0, ".": 5.0, "?": 5.0, "!": 5.0}
SUPPORTED_OUTPUT_ENCODINGS = ("pcm_s16le", "pcm_f32le")


@dataclass(frozen=True)
class TimedWord:
    word: str
    start: float
    end: float


def pcm16_from_bytes(data: bytes, channels: int = 1) -> Int16Array:
    """Little-endian 16-bit PCM to samples, keeping the first channel of interleaved audio."""
    usable = len(data) - len(data) % (2 * channels)
    samples: Int16Array = np.frombuffer(data[:usable], dtype="<i2").astype(np.int16)
    return samples[::channels] if channels > 1 else samples


def level_dbfs(samples: Int16Array) -> float:
    """RMS level relative to full scale; silence is -inf."""
    if samples.size == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))
    return 20.0 * math.log10(rms / 32768.0) if rms > 0 else -math.inf


def resample(samples: Int16Array, from_rate: int, to_rate: int) -> Int16Array:
    """Linear-interpolation resampling, low-passed first when the rate goes down.

    Good enough for speech recognition and playback in a simulator; not studio quality.
    """
    if from_rate == to_rate or samples.size == 0:
        return samples
    signal = samples.astype(np.float64)
    if to_rate < from_rate:
        signal = _low_pass(signal, cutoff=0.45 * to_rate / from_rate)
    count = max(1, round(samples.size * to_rate / from_rate))
    positions = np.arange(count) * (from_rate / to_rate)
    out = np.interp(positions, np.arange(samples.size), signal)
    resampled: Int16Array = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
    return resampled


def _low_pass(signal: npt.NDArray[np.float64], *, cutoff: float) -> npt.NDArray[np.float64]:
    """A 63-tap Hann-windowed sinc filter; `cutoff` is a fraction of the sample rate."""
    taps = np.arange(63) - 31
    kernel = 2 * cutoff * np.sinc(2 * cutoff * taps) * np.hanning(63)
    kernel /= kernel.sum()
    return np.convolve(signal, kernel, mode="same")


def encode(samples: Int16Array, encoding: str) -> bytes:
    if encoding == "pcm_s16le":
        return samples.astype("<i2").tobytes()
    if encoding == "pcm_f32le":
        return (samples.astype("<f4") / 32768.0).astype("<f4").tobytes()
    supported = ", ".join(SUPPORTED_OUTPUT_ENCODINGS)
    raise ValueError(f"encoding '{encoding}' is not supported: use one of {supported}")


def bytes_per_sample(encoding: str) -> int:
    return 4 if encoding == "pcm_f32le" else 2


def synthetic_speech(
    text: str, sample_rate: int, *, ms_per_character: float
) -> tuple[Int16Array, list[TimedWord]]:
    """A soft, word-shaped hum as long as `text` would take to say.

    Each word is a voiced tone (with a harmonic, so it sounds like a hum, not a beep)
    lasting its length in characters; a space is a short gap and punctuation a longer
    pause, so the level follows the rhythm of speech and energy-based voice detection
    sees words. Deterministic: the same text always gives the same samples.
    """
    char_seconds = ms_per_character / 1000.0
    pieces: list[npt.NDArray[np.float64]] = []
    words: list[TimedWord] = []
    cursor = 0.0
    for match in _WORD.finditer(text):
        word = match.group(0)
        duration = len(word) * char_seconds
        count = max(1, round(duration * sample_rate))
        t = np.arange(count) / sample_rate
        pitch = 140.0 + 20.0 * ((len(words) % 5) / 4.0)
        tone = np.sin(2 * np.pi * pitch * t) + 0.35 * np.sin(2 * np.pi * 2 * pitch * t)
        envelope = np.sin(np.pi * np.arange(count) / count) ** 0.5
        pieces.append(0.12 * tone * envelope)
        words.append(TimedWord(word, cursor, cursor + count / sample_rate))
        cursor += count / sample_rate
        pause = char_seconds * _PAUSE_AFTER.get(word[-1], 1.0)
        gap = round(pause * sample_rate)
        pieces.append(np.zeros(gap))
        cursor += gap / sample_rate
    if not pieces:
        return np.zeros(0, dtype=np.int16), []
    audio = np.concatenate(pieces)
    return np.clip(np.rint(audio * 32767), -32768, 32767).astype(np.int16), words


def spread_words(text: str, duration: float) -> list[TimedWord]:
    """Word timings spread over `duration` in proportion to word length.

    Used where the engine gives no alignment (Piper, scripted transcripts).
    """
    tokens = _WORD.findall(text)
    total = sum(len(token) + 1 for token in tokens)
    if not tokens or total == 0:
        return []
    timed: list[TimedWord] = []
    cursor = 0.0
    for token in tokens:
        span = duration * (len(token) + 1) / total
        timed.append(TimedWord(token, cursor, cursor + span * len(token) / (len(token) + 1)))
        cursor += span
    return timed
