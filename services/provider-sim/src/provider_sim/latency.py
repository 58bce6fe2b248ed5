"""Simulated provider latencies: configured per stage, with optional seeded jitter.

Jitter is derived from a hash of (seed, stage, key) instead of a shared random generator,
so a given request gets the same delay however many other calls run concurrently and in
whatever order they arrive. Callers pass a key that describes the work (the text being
synthesised, the position in the conversation), which makes whole runs reproducible.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from enum import StrEnum


class Stage(StrEnum):
    STT_FINAL = "stt_final"
    LLM_TTFT = "llm_ttft"
    LLM_STEP = "llm_step"  # between two streamed deltas (one token each)
    TTS_TTFB = "tts_ttfb"


@dataclass(frozen=True)
class LatencyProfile:
    """Base delays in seconds (the TTS real-time factor is seconds of work per second of audio)."""

    stt_final_delay: float
    llm_ttft: float
    llm_token_interval: float
    tts_ttfb: float
    tts_realtime_factor: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class LatencyModel:
    def __init__(self, profile: LatencyProfile, *, seed: int, jitter: float) -> None:
        if not 0.0 <= jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")
        self.profile = profile
        self.seed = seed
        self.jitter = jitter

    def _base(self, stage: Stage) -> float:
        return {
            Stage.STT_FINAL: self.profile.stt_final_delay,
            Stage.LLM_TTFT: self.profile.llm_ttft,
            Stage.LLM_STEP: self.profile.llm_token_interval,
            Stage.TTS_TTFB: self.profile.tts_ttfb,
        }[stage]

    def delay(self, stage: Stage, key: str) -> float:
        """The delay in seconds for one piece of work, uniform in base × (1 ± jitter)."""
        base = self._base(stage)
        if self.jitter == 0.0 or base == 0.0:
            return base
        return max(0.0, base * (1.0 + self.jitter * self._unit(stage, key)))

    def tts_generation_time(self, audio_seconds: float, key: str) -> float:
        """How long producing `audio_seconds` of speech takes at the configured real-time factor."""
        base = self.profile.tts_realtime_factor * audio_seconds
        if self.jitter == 0.0 or base == 0.0:
            return base
        return max(0.0, base * (1.0 + self.jitter * self._unit(Stage.TTS_TTFB, "rtf:" + key)))

    def _unit(self, stage: Stage, key: str) -> float:
        """A deterministic number in [-1, 1) for (seed, stage, key)."""
        digest = hashlib.sha256(f"{self.seed}\x00{stage}\x00{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**63 - 1.0
