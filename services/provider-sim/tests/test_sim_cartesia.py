"""The Cartesia stand-in, driven by the production livekit Cartesia plugin and raw websockets."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import numpy as np
import pytest
from livekit.plugins import cartesia
from provider_sim.audio import level_dbfs

KEY = "sim-test-key"
GREETING = "Thank you for calling Bright Smile Dental. How can I help you today?"


def tts_for(sim: Any, http: aiohttp.ClientSession, **options: Any) -> cartesia.TTS:
    return cartesia.TTS(base_url=sim.base_url, api_key=KEY, http_session=http, **options)


def seconds(frames: list[Any]) -> float:
    return sum(frame.samples_per_channel / frame.sample_rate for frame in frames)


def samples_of(frames: list[Any]) -> np.ndarray:
    return np.concatenate([np.frombuffer(frame.data, dtype=np.int16) for frame in frames])


async def test_streaming_synthesis_through_the_plugin(scripted_sim, http_session) -> None:
    tts = tts_for(scripted_sim, http_session)
    try:
        stream = tts.stream()
        for word in GREETING.split(" "):  # the way an LLM streams text in
            stream.push_text(word + " ")
        stream.end_input()
        frames = [audio.frame async for audio in stream]
    finally:
        await tts.aclose()
    assert {frame.sample_rate for frame in frames} == {24000}
    assert 0.8 * len(GREETING) * 0.065 < seconds(frames) < 1.6 * len(GREETING) * 0.065
    assert level_dbfs(samples_of(frames)) > -35


async def test_bytes_endpoint_through_the_plugin(scripted_sim, http_session) -> None:
    tts = tts_for(scripted_sim, http_session, sample_rate=16000)
    try:
        frames = [audio.frame async for audio in tts.synthesize("See you on Tuesday.")]
    finally:
        await tts.aclose()
    assert {frame.sample_rate for frame in frames} == {16000}
    assert 0.8 < seconds(frames) < 2.5


async def test_piper_mode_speaks_recognisable_speech(speech_sim, http_session) -> None:
    """Round trip through both real engines: Piper audio from the TTS stand-in is
    recognised by the STT stand-in's pocketsphinx."""
    tts = tts_for(speech_sim, http_session, sample_rate=16000)
    try:
        stream = tts.stream()
        stream.push_text("My name is Maria Garcia.")
        stream.end_input()
        frames = [audio.frame async for audio in stream]
    finally:
        await tts.aclose()
    audio = samples_of(frames)
    assert 1.0 < audio.size / 16000 < 3.5
    query = "encoding=linear16&sample_rate=16000&punctuate=false"
    async with http_session.ws_connect(
        f"ws://127.0.0.1:{speech_sim.port}/v1/listen?{query}", headers={"Authorization": "Token k"}
    ) as ws:
        await ws.send_bytes(np.concatenate([audio, np.zeros(16000, np.int16)]).tobytes())
        await ws.send_str(json.dumps({"type": "CloseStream"}))
        heard = [
            json.loads(message.data)["channel"]["alternatives"][0]["transcript"]
            async for message in ws
            if message.type is aiohttp.WSMsgType.TEXT
            and json.loads(message.data)["type"] == "Results"
            and json.loads(message.data)["is_final"]
        ]
    assert "maria garcia" in " ".join(heard)


async def test_wire_protocol_messages_match_cartesia(scripted_sim, http_session) -> None:
    url = f"ws://127.0.0.1:{scripted_sim.port}/tts/websocket?cartesia_version=2025-04-16"
    base = {
        "model_id": "sonic-3",
        "voice": {"mode": "id", "id": "v"},
        "language": "en",
        "output_format": {"container": "raw", "encoding": "pcm_f32le", "sample_rate": 8000},
        "add_timestamps": True,
        "context_id": "ctx-1",
    }
    async with http_session.ws_connect(url, headers={"X-API-Key": KEY}) as ws:
        await ws.send_str(json.dumps({**base, "transcript": "Hello there. ", "continue": True}))
        await ws.send_str(
            json.dumps({**base, "transcript": "Goodbye now.", "continue": True, "flush": True})
        )
        await ws.send_str(json.dumps({**base, "transcript": " ", "continue": False}))
        await ws.send_str(
            json.dumps(
                {
                    **base,
                    "context_id": "bad",
                    "transcript": "x",
                    "output_format": {"container": "mp3", "sample_rate": 8000},
                }
            )
        )
        messages: list[dict[str, Any]] = []
        while not any(m.get("type") == "done" for m in messages) or not any(
            m.get("type") == "error" for m in messages
        ):
            messages.append(await ws.receive_json(timeout=10))
    ours = [m for m in messages if m["context_id"] == "ctx-1"]
    assert [m["type"] for m in ours][-1] == "done"
    assert ours[-1]["done"] is True
    chunks = [m for m in ours if m["type"] == "chunk"]
    assert all(m["status_code"] == 206 and m["done"] is False for m in chunks)
    audio = np.frombuffer(b"".join(base64.b64decode(m["data"]) for m in chunks), dtype="<f4")
    assert np.abs(audio).max() <= 1.0
    assert 1.0 < audio.size / 8000 < 3.0
    words = [
        word for m in ours if m["type"] == "timestamps" for word in m["word_timestamps"]["words"]
    ]
    assert words == ["Hello", "there.", "Goodbye", "now."]
    starts = [
        start for m in ours if m["type"] == "timestamps" for start in m["word_timestamps"]["start"]
    ]
    assert starts == sorted(starts)
    assert starts[2] > 0.5
    flush = next(m for m in ours if m["type"] == "flush_done")
    assert flush["flush_id"] == 1
    assert ours.index(flush) > ours.index(chunks[-1])
    error = next(m for m in messages if m["type"] == "error")
    assert error["context_id"] == "bad"
    assert "container" in error["error"]


async def test_cancel_stops_a_context(scripted_sim, http_session) -> None:
    url = f"ws://127.0.0.1:{scripted_sim.port}/tts/websocket?cartesia_version=2025-04-16"
    request = {
        "model_id": "sonic-3",
        "context_id": "long",
        "transcript": "word " * 200,
        "continue": True,
        "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000},
    }
    async with http_session.ws_connect(url, headers={"X-API-Key": KEY}) as ws:
        await ws.send_str(json.dumps(request))
        await ws.send_str(json.dumps({"context_id": "long", "cancel": True}))
        await ws.send_str(
            json.dumps({**request, "context_id": "next", "transcript": "Hi.", "continue": False})
        )
        received = []
        while not received or received[-1]["type"] != "done":
            received.append(await ws.receive_json(timeout=10))
    assert received[-1]["context_id"] == "next"
    assert not any(m["type"] == "done" and m["context_id"] == "long" for m in received)


async def test_handshake_and_bytes_requests_are_validated(scripted_sim, http_session) -> None:
    url = f"ws://127.0.0.1:{scripted_sim.port}/tts/websocket"
    for query, headers, status in [("?cartesia_version=1", {}, 401), ("", {"X-API-Key": KEY}, 400)]:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http_session.ws_connect(url + query, headers=headers)
        assert refused.value.status == status
    async with http_session.ws_connect(f"{url}?cartesia_version=1&api_key={KEY}") as ws:
        await ws.send_str("not json")
        assert (await ws.receive_json(timeout=5))["type"] == "error"
        await ws.send_bytes(b"audio?")
        assert "binary" in (await ws.receive_json(timeout=5))["error"]

    def tts_bytes(transcript: str, encoding: str) -> Any:
        wav = {"container": "wav", "encoding": encoding, "sample_rate": 16000}
        return http_session.post(
            f"{scripted_sim.base_url}/tts/bytes",
            json={"model_id": "sonic-3", "transcript": transcript, "output_format": wav},
            headers={"X-API-Key": KEY, "Cartesia-Version": "2025-04-16"},
        )

    async with tts_bytes("x", "pcm_f32le") as response:
        assert response.status == 400
        assert "pcm_s16le" in (await response.json())["error"]
    async with tts_bytes("Hello.", "pcm_s16le") as response:
        assert response.status == 200
        body = await response.read()
    assert body[:4] == b"RIFF"
    assert body[8:12] == b"WAVE"
