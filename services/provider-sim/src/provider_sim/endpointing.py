"""Energy-based detection of where a caller's speech starts and ends. Pure.

Deepgram decides utterance boundaries with its own model; the simulator approximates it
with the audio level: speech starts after a few consecutive voiced frames and ends after
`endpoint_silence` seconds below the threshold. Times are in seconds of received audio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from provider_sim.audio import level_dbfs, pcm16_from_bytes

FRAME_SECONDS = 0.02
_MIN_VOICED_FRAMES = 3  # 60 ms: clicks and breaths do not start an utterance


class EndpointKind(StrEnum):
    SPEECH_START = "speech_start"
    SPEECH_END = "speech_end"


@dataclass(frozen=True)
class EndpointEvent:
    kind: EndpointKind
    at: float  # start of the first voiced frame, or end of the last voiced frame
    silence_before: float = math.inf  # for SPEECH_START: gap since the previous speech ended


@dataclass
class EnergyEndpointer:
    sample_rate: int
    threshold_dbfs: float
    endpoint_silence: float
    channels: int = 1
    position: float = 0.0  # seconds of audio seen
    in_speech: bool = False
    speech_started_at: float = 0.0
    last_voice_end: float = -math.inf
    _pending: bytes = b""
    _voiced_run: int = 0
    _run_started_at: float = 0.0
    _previous_speech_end: float = -math.inf
    _frame_bytes: int = field(init=False)

    def __post_init__(self) -> None:
        self._frame_bytes = round(self.sample_rate * FRAME_SECONDS) * 2 * self.channels

    def push(self, pcm: bytes) -> list[EndpointEvent]:
        """Feed little-endian 16-bit PCM; returns the boundaries it completes."""
        data = self._pending + pcm
        events: list[EndpointEvent] = []
        offset = 0
        while len(data) - offset >= self._frame_bytes:
            frame = pcm16_from_bytes(data[offset : offset + self._frame_bytes], self.channels)
            offset += self._frame_bytes
            events.extend(self._frame(level_dbfs(frame) >= self.threshold_dbfs))
        self._pending = data[offset:]
        return events

    def idle(self, seconds: float) -> list[EndpointEvent]:
        """No audio at all has arrived for `seconds` (wall clock): a sender that stopped
        streaming mid-utterance. Ends the utterance once that plus the silence already
        heard reaches the endpoint, without pretending the missing audio was received."""
        if self.in_speech and self.silence_since_speech(seconds) >= self.endpoint_silence:
            return self.force_end(at=self.last_voice_end)
        return []

    def silence_since_speech(self, idle: float = 0.0) -> float:
        """Seconds since a voice was last heard, plus `idle` seconds with no audio at all."""
        return self.position - self.last_voice_end + idle

    def force_end(self, at: float | None = None) -> list[EndpointEvent]:
        """End the current utterance now (the client asked to finalize)."""
        if not self.in_speech:
            return []
        end = self.position if at is None else at
        self.in_speech = False
        self._voiced_run = 0
        self._previous_speech_end = self.last_voice_end = end
        return [EndpointEvent(EndpointKind.SPEECH_END, end)]

    def _frame(self, voiced: bool) -> list[EndpointEvent]:
        frame_start = self.position
        self.position += FRAME_SECONDS
        if voiced:
            if self._voiced_run == 0:
                self._run_started_at = frame_start
            self._voiced_run += 1
            self.last_voice_end = self.position
            if not self.in_speech and self._voiced_run >= _MIN_VOICED_FRAMES:
                self.in_speech = True
                self.speech_started_at = self._run_started_at
                gap = self._run_started_at - self._previous_speech_end
                return [EndpointEvent(EndpointKind.SPEECH_START, self._run_started_at, gap)]
            return []
        self._voiced_run = 0
        if self.in_speech and self.position - self.last_voice_end >= self.endpoint_silence - 1e-9:
            self.in_speech = False
            self._previous_speech_end = self.last_voice_end
            return [EndpointEvent(EndpointKind.SPEECH_END, self.last_voice_end)]
        return []
