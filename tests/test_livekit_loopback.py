"""A real LiveKit server carries audio between two SDK participants over loopback only."""

from __future__ import annotations

import asyncio
import re

import numpy as np
from livekit import api, rtc

ROOM = "loopback-check"
RATE = 48000
TONE_HZ = 440.0
AMPLITUDE = 0.3


def token(server, identity: str) -> str:
    grants = api.VideoGrants(room_join=True, room=ROOM, can_publish=True, can_subscribe=True)
    return (
        api.AccessToken(server.api_key, server.api_secret)
        .with_identity(identity)
        .with_grants(grants)
        .to_jwt()
    )


async def test_audio_published_by_one_participant_reaches_the_other(livekit_server) -> None:
    listener, speaker = rtc.Room(), rtc.Room()
    collectors: list[asyncio.Task[None]] = []
    received: list[np.ndarray] = []
    one_second_heard = asyncio.Event()

    async def collect(track: rtc.Track) -> None:
        stream = rtc.AudioStream(track, sample_rate=RATE, num_channels=1)
        async for event in stream:
            samples = np.frombuffer(event.frame.data, dtype=np.int16).copy()
            if np.abs(samples).max() > 1000:  # skip the silence before the tone arrives
                received.append(samples)
            if sum(chunk.size for chunk in received) >= RATE:
                one_second_heard.set()
                break
        await stream.aclose()

    @listener.on("track_subscribed")
    def on_track(track: rtc.Track, *_: object) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            collectors.append(asyncio.create_task(collect(track)))

    source = rtc.AudioSource(RATE, 1)

    async def speak() -> None:
        step, sent = RATE // 100, 0
        while not one_second_heard.is_set():
            t = (np.arange(step) + sent) / RATE
            tone = (AMPLITUDE * 32767 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.int16)
            await source.capture_frame(rtc.AudioFrame(tone.tobytes(), RATE, 1, step))
            sent += step

    try:
        await listener.connect(livekit_server.url, token(livekit_server, "listener"))
        await speaker.connect(livekit_server.url, token(livekit_server, "speaker"))
        track = rtc.LocalAudioTrack.create_audio_track("tone", source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await speaker.local_participant.publish_track(track, options)
        speaking = asyncio.create_task(speak())
        try:
            await asyncio.wait_for(one_second_heard.wait(), timeout=20)
        finally:
            speaking.cancel()

        async with api.LiveKitAPI(
            livekit_server.http_url, livekit_server.api_key, livekit_server.api_secret
        ) as lk:
            participants = await lk.room.list_participants(api.ListParticipantsRequest(room=ROOM))
        assert {p.identity for p in participants.participants} == {"listener", "speaker"}
    finally:
        for task in collectors:
            task.cancel()
        await speaker.disconnect()
        await listener.disconnect()
        await source.aclose()

    audio = np.concatenate(received).astype(np.float64)
    rms = np.sqrt(np.mean(audio**2))
    expected_rms = AMPLITUDE * 32767 / np.sqrt(2)
    assert 0.5 * expected_rms < rms < 1.5 * expected_rms, "the tone arrived at about its level"
    spectrum = np.abs(np.fft.rfft(audio[:RATE]))  # one second: bin n is n Hz
    assert abs(np.argmax(spectrum) - TONE_HZ) < 5, "and at its pitch (Opus round trip)"
    # the server only ever offered, and selected, its loopback UDP port
    local_candidates = re.findall(
        r"\[local\](\[selected:\d+\])?\S* udp4 host ([\d.]+):(\d+)", livekit_server.log()
    )
    assert local_candidates
    assert {(host, int(port)) for _, host, port in local_candidates} == {
        ("127.0.0.1", livekit_server.udp_port)
    }
    assert any(selected for selected, _, _ in local_candidates)


async def test_call_sim_measures_the_webrtc_floor_tone_by_tone(livekit_server) -> None:
    """call-sim's floor probe hears every tone, one way, in a plausible time: the demo and
    the benchmark set the caller's in and out legs beside it."""
    from call_sim.floor import legs_vs_floor, measure_floor

    floor = await measure_floor(
        livekit_server.url, livekit_server.api_key, livekit_server.api_secret, probes=5
    )
    assert floor.lost == 0
    assert len(floor.one_way_ms) == 5
    # a tone cannot arrive before it left, and loopback takes well under a second
    assert all(0 < one_way < 1000 for one_way in floor.one_way_ms)
    assert floor.p50 is not None
    beside = legs_vs_floor(floor, [floor.p50 + 30.0], [floor.p50 + 5.0])
    assert beside["in_over_floor_ms"] == 30.0
    assert beside["out_over_floor_ms"] == 5.0
