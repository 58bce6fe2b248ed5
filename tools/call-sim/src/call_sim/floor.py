"""The WebRTC floor: what a bare rtc publisher → subscriber costs through the same SFU.

The caller's in and out legs (caller → STT, agent → caller) include WebRTC, Opus and the
SFU, which no agent code can remove. To tell what is ours from what is transport, the
demo and the benchmark measure, in the same run and on the same livekit-server, two plain
Python rtc participants in a room no agent joins: one publishes the caller's own
microphone (the same 48 kHz source, frame size and queue), the other listens with the
caller's own ear (the same `AudioStream` framing and energy threshold). Each probe is a
short tone; its one-way time runs from the tone's first frame leaving the publisher's
queue to the listener hearing its onset — the same two clocks the caller's end to end
uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from livekit import api, rtc

from call_sim.caller import FRAME_SECONDS, _AgentEar, _Microphone
from call_sim.console import Console
from call_sim.latency import percentile
from call_sim.voice import SAMPLE_RATE, Pcm

TONE_SECONDS = 0.2
TONE_HZ = 440.0
GAP_SECONDS = 0.5  # longer than the ear's 0.3 s end-of-speech, so every tone is an onset
SUBSCRIBE_TIMEOUT_SECONDS = 15.0
PROBE_TIMEOUT_SECONDS = 3.0
SPEECH_THRESHOLD_DBFS = -40.0
PUBLISHER = "webrtc-floor-publisher"


@dataclass(frozen=True)
class Floor:
    """One-way publisher → subscriber times, in milliseconds."""

    one_way_ms: tuple[float, ...]
    lost: int

    @property
    def p50(self) -> float | None:
        return percentile(self.one_way_ms, 0.5)

    @property
    def p95(self) -> float | None:
        return percentile(self.one_way_ms, 0.95)

    def as_dict(self) -> dict[str, object]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 1)

        return {
            "n": len(self.one_way_ms),
            "lost": self.lost,
            "p50_ms": rounded(self.p50),
            "p95_ms": rounded(self.p95),
            "min_ms": rounded(min(self.one_way_ms)) if self.one_way_ms else None,
        }


def tone(seconds: float = TONE_SECONDS) -> Pcm:
    """A loud sine, voiced in every 10 ms block."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (np.sin(2 * np.pi * TONE_HZ * t) * 12_000).astype(np.int16)


def _token(
    api_key: str, api_secret: str, room: str, identity: str, kind: Literal["ingress", "egress"]
) -> str:
    """A token for a probe participant. Its kind (ingress, egress) is not a caller's, so
    the token service's dispatch watchdog sends no receptionist into the probe's room."""
    grants = api.VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True)
    token = api.AccessToken(api_key, api_secret).with_identity(identity).with_kind(kind)
    return token.with_grants(grants).to_jwt()


async def measure_floor(
    livekit_ws: str, api_key: str, api_secret: str, *, probes: int = 12
) -> Floor:
    """Send `probes` tones from one participant to another and time each one way."""
    room_name = f"webrtc-floor-{secrets.token_hex(4)}"
    publisher, listener = rtc.Room(), rtc.Room()
    ear = _AgentEar(SPEECH_THRESHOLD_DBFS)
    microphone = _Microphone(SPEECH_THRESHOLD_DBFS)
    subscribed = asyncio.Event()
    listening: set[asyncio.Task[None]] = set()

    async def listen(track: rtc.Track) -> None:
        stream = rtc.AudioStream(
            track,
            sample_rate=SAMPLE_RATE,
            num_channels=1,
            frame_size_ms=round(FRAME_SECONDS * 1000),
        )
        subscribed.set()
        try:
            async for event in stream:
                ear.frame(np.frombuffer(event.frame.data, dtype=np.int16), time.monotonic())
        finally:
            await stream.aclose()

    @listener.on("track_subscribed")
    def _on_track(
        track: rtc.Track, _publication: object, participant: rtc.RemoteParticipant
    ) -> None:
        # only the probe's own publisher: a worker that takes every room may join this one
        if track.kind == rtc.TrackKind.KIND_AUDIO and participant.identity == PUBLISHER:
            task = asyncio.ensure_future(listen(track))
            listening.add(task)

    one_way: list[float] = []
    lost = 0
    try:
        await listener.connect(
            livekit_ws, _token(api_key, api_secret, room_name, "webrtc-floor-listener", "egress")
        )
        await publisher.connect(
            livekit_ws, _token(api_key, api_secret, room_name, PUBLISHER, "ingress")
        )
        track = rtc.LocalAudioTrack.create_audio_track("microphone", microphone.source)
        await publisher.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        )
        microphone.start()
        await asyncio.wait_for(subscribed.wait(), SUBSCRIBE_TIMEOUT_SECONDS)
        await asyncio.sleep(1.0)  # let the jitter buffer and the congestion control settle
        burst = tone()
        for _ in range(probes):
            voiced_end = await microphone.say(burst)
            left = voiced_end - burst.size / SAMPLE_RATE
            heard = await _onset_after(ear, left)
            if heard is None:
                lost += 1
            else:
                one_way.append((heard - left) * 1000)
            await asyncio.sleep(GAP_SECONDS)
    finally:
        await microphone.close()
        for task in listening:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*listening, return_exceptions=True)
        await publisher.disconnect()
        await listener.disconnect()
    return Floor(tuple(one_way), lost)


async def _onset_after(ear: _AgentEar, moment: float) -> float | None:
    deadline = time.monotonic() + PROBE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        onset = ear.first_onset_after(moment)
        if onset is not None:
            return onset
        await asyncio.sleep(0.01)
    return None


def legs_vs_floor(
    floor: Floor, inbound_ms: Sequence[float], outbound_ms: Sequence[float]
) -> dict[str, object]:
    """The floor, and each leg's p50 beside it: what the two ends add to the transport."""
    base = floor.p50

    def over(values: Sequence[float]) -> float | None:
        median = percentile(values, 0.5)
        return None if median is None or base is None else round(median - base, 1)

    return {
        **floor.as_dict(),
        "in_over_floor_ms": over(inbound_ms),
        "out_over_floor_ms": over(outbound_ms),
    }


def with_floor(report: dict[str, Any], floor: Floor) -> dict[str, Any]:
    """A call report with the floor measured in the same run, set beside its legs."""
    legs = [turn["system_added_legs_ms"] for turn in report["turns"]]
    inbound = [leg["caller_to_stt"] for leg in legs if leg["caller_to_stt"] is not None]
    outbound = [leg["agent_to_caller"] for leg in legs if leg["agent_to_caller"] is not None]
    return {**report, "webrtc_floor": legs_vs_floor(floor, inbound, outbound)}


async def webrtc_floor(
    livekit_ws: str, api_key: str, api_secret: str, console: Console
) -> Floor | None:
    """The floor on the stack's livekit-server; None (and why) when it failed."""
    console.step("webrtc floor", "a bare rtc publisher → subscriber through the same SFU")
    try:
        floor = await measure_floor(livekit_ws, api_key, api_secret)
    except Exception as error:
        console.fail("webrtc floor", f"not measured ({type(error).__name__}: {error})")
        return None
    console.ok("webrtc floor", f"p50 {floor.p50:.0f} ms one way" if floor.p50 else "no tone heard")
    return floor
