"""The Deepgram stand-in, driven by the production livekit Deepgram plugin and raw websockets."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import numpy as np
from livekit import rtc
from livekit.agents import stt
from livekit.plugins import deepgram
from provider_sim.heard import heard_name, heard_phone

KEY = "sim-test-key"
LINE_1 = "I would like to book a cleaning appointment next Tuesday morning."
LINE_2 = "My name is Maria Garcia."


def listen_url(sim: Any) -> str:
    return f"ws://127.0.0.1:{sim.port}/v1/listen"


async def transcribe(
    sim: Any,
    http: aiohttp.ClientSession,
    audio: np.ndarray,
    rate: int,
    utterances: int = 1,
    **options: Any,
) -> list[stt.SpeechEvent]:
    """Stream audio through the plugin (faster than real time) and collect its events
    until `utterances` have ended. (The plugin itself takes up to 5 s to wind a stream
    down after the server closed it, as with real Deepgram, so tests do not wait for that.)"""
    recognizer = deepgram.STT(
        base_url=listen_url(sim), api_key=KEY, http_session=http, sample_rate=rate, **options
    )
    stream = recognizer.stream()
    events: list[stt.SpeechEvent] = []

    async def feed() -> None:
        step = rate // 100
        for offset in range(0, audio.size, step):
            piece = audio[offset : offset + step]
            stream.push_frame(rtc.AudioFrame(piece.tobytes(), rate, 1, piece.size))
            if offset % (step * 10) == 0:
                await asyncio.sleep(0.001)
        stream.end_input()

    feeder = asyncio.create_task(feed())
    async with asyncio.timeout(30):
        async for event in stream:
            events.append(event)
            if sum(e.type is stt.SpeechEventType.END_OF_SPEECH for e in events) == utterances:
                break
    await feeder
    await stream.aclose()
    return events


def finals(events: list[stt.SpeechEvent]) -> list[str]:
    return [
        e.alternatives[0].text for e in events if e.type is stt.SpeechEventType.FINAL_TRANSCRIPT
    ]


def kinds(events: list[stt.SpeechEvent]) -> list[stt.SpeechEventType]:
    wanted = {
        stt.SpeechEventType.START_OF_SPEECH,
        stt.SpeechEventType.FINAL_TRANSCRIPT,
        stt.SpeechEventType.END_OF_SPEECH,
    }
    return [e.type for e in events if e.type in wanted]


async def test_scripted_mode_hears_the_scenario_lines_in_order(
    scripted_sim, caller_speech, http_session
) -> None:
    audio = np.concatenate([caller_speech(LINE_1, 16000), caller_speech(LINE_2, 16000)])
    events = await transcribe(scripted_sim, http_session, audio, 16000, utterances=2)
    assert finals(events) == [LINE_1, LINE_2]
    start, final, end = (
        stt.SpeechEventType.START_OF_SPEECH,
        stt.SpeechEventType.FINAL_TRANSCRIPT,
        stt.SpeechEventType.END_OF_SPEECH,
    )
    assert kinds(events) == [start, final, end, start, final, end]
    interims = [
        e.alternatives[0].text for e in events if e.type is stt.SpeechEventType.INTERIM_TRANSCRIPT
    ]
    assert interims
    assert all(LINE_1.startswith(text) or LINE_2.startswith(text) for text in interims)
    first_final = next(e for e in events if e.type is stt.SpeechEventType.FINAL_TRANSCRIPT)
    words = first_final.alternatives[0].words or []
    assert [str(word) for word in words] == LINE_1.split()
    assert first_final.alternatives[0].start_time < first_final.alternatives[0].end_time


async def test_a_pause_inside_a_caller_turn_does_not_skip_a_scripted_line(
    scripted_sim, caller_speech, http_session
) -> None:
    first_half = caller_speech("I would like to book", 48000)[:-48000]  # no trailing second
    pause = np.zeros(int(0.4 * 48000), np.int16)  # longer than endpointing, shorter than a turn gap
    rest = caller_speech("a cleaning appointment next Tuesday morning.", 48000)
    then = caller_speech(LINE_2, 48000)
    audio = np.concatenate([first_half, pause, rest, then])
    events = await transcribe(scripted_sim, http_session, audio, 48000, utterances=3)
    assert finals(events) == [LINE_1, LINE_2]


async def test_tags_keep_the_script_position_across_reconnects(
    scripted_sim, caller_speech, http_session
) -> None:
    first = await transcribe(
        scripted_sim, http_session, caller_speech(LINE_1, 16000), 16000, tags=["call-77"]
    )
    second = await transcribe(
        scripted_sim, http_session, caller_speech(LINE_2, 16000), 16000, tags=["call-77"]
    )
    untagged = await transcribe(scripted_sim, http_session, caller_speech(LINE_2, 16000), 16000)
    assert (finals(first), finals(second), finals(untagged)) == ([LINE_1], [LINE_2], [LINE_1])


def overlap(expected: str, heard: str) -> float:
    want = re.findall(r"[a-z']+", expected.lower())
    got = set(re.findall(r"[a-z']+", heard.lower()))
    return sum(word in got for word in want) / len(want)


async def test_pocketsphinx_mode_recognises_real_speech(
    speech_sim, caller_speech, http_session
) -> None:
    events = await transcribe(speech_sim, http_session, caller_speech(LINE_1, 16000), 16000)
    texts = finals(events)
    assert len(texts) == 1
    assert overlap(LINE_1, texts[0]) >= 0.7, texts[0]
    interims = [e for e in events if e.type is stt.SpeechEventType.INTERIM_TRANSCRIPT]
    assert interims, "partial hypotheses are sent while the caller speaks"


async def test_pocketsphinx_hears_a_name_and_number_the_script_can_book(
    speech_sim, caller_speech, http_session
) -> None:
    """`make dev`: what a person says reaches the scripted booking (provider_sim.heard).

    The name comes through every time. Piper's voice varies from run to run, and the
    general model mishears a digit often enough that the number is sometimes missed; then
    the script keeps its default, but it must never book a wrong number.
    """
    line = (
        "My name is David Brown, my phone number is two one two, five five five, "
        "one two three four."
    )
    audio = caller_speech(line, 16000)
    events = await transcribe(speech_sim, http_session, audio, 16000, endpointing_ms=600)
    heard = " ".join(finals(events))
    assert heard_name([heard]) == "David Brown", heard
    assert heard_phone([heard]) in {"(212) 555-1234", None}, heard


async def raw_session(
    sim: Any, http: aiohttp.ClientSession, query: str, audio: np.ndarray
) -> tuple[list[dict[str, Any]], aiohttp.ClientWebSocketResponse]:
    async with http.ws_connect(
        f"{listen_url(sim)}?{query}", headers={"Authorization": f"Token {KEY}"}
    ) as ws:
        for offset in range(0, audio.size, 800):
            await ws.send_bytes(audio[offset : offset + 800].tobytes())
        await ws.send_str(json.dumps({"type": "KeepAlive"}))
        await ws.send_str(json.dumps({"type": "CloseStream"}))
        messages = [
            json.loads(message.data)
            async for message in ws
            if message.type is aiohttp.WSMsgType.TEXT
        ]
    return messages, ws


async def test_wire_protocol_messages_match_deepgram(
    scripted_sim, caller_speech, http_session
) -> None:
    query = (
        "encoding=linear16&sample_rate=16000&channels=1&interim_results=true&vad_events=true"
        "&punctuate=true&utterance_end_ms=1000&model=nova-3"
    )
    audio = np.concatenate([caller_speech(LINE_1, 16000), np.zeros(16000, np.int16)])
    messages, ws = await raw_session(scripted_sim, http_session, query, audio)
    assert ws.close_code == 1000
    types = [message["type"] for message in messages]
    assert types[0] == "SpeechStarted"
    assert types[-1] == "Metadata"
    assert types.index("UtteranceEnd") > max(i for i, t in enumerate(types) if t == "Results")
    results = [message for message in messages if message["type"] == "Results"]
    final = next(message for message in results if message["is_final"])
    assert final["speech_final"] is True
    alternative = final["channel"]["alternatives"][0]
    assert alternative["transcript"] == LINE_1
    assert [word["punctuated_word"] for word in alternative["words"]] == LINE_1.split()
    assert alternative["words"][-1]["word"] == "morning"
    assert final["start"] >= 0
    assert final["duration"] > 2
    assert {message["metadata"]["request_id"] for message in results} == {
        messages[-1]["request_id"]
    }
    assert not any(message["is_final"] for message in results[: results.index(final)])


async def test_handshake_rejects_bad_credentials_and_parameters_with_reasons(
    scripted_sim, http_session
) -> None:
    async def status_of(query: str, headers: dict[str, str]) -> tuple[int, str]:
        try:
            async with http_session.ws_connect(
                f"{listen_url(scripted_sim)}?{query}", headers=headers
            ):
                return 101, ""
        except aiohttp.WSServerHandshakeError as error:
            return error.status, error.message

    assert (await status_of("encoding=linear16", {}))[0] == 401
    assert (await status_of("encoding=linear16", {"Authorization": "Token wrong"}))[0] == 401
    status, _ = await status_of("encoding=opus", {"Authorization": f"Token {KEY}"})
    assert status == 400
    async with http_session.get(
        f"{scripted_sim.base_url}/v1/listen?encoding=linear16&sample_rate=2",
        headers={
            "Authorization": f"Token {KEY}",
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    ) as response:
        assert response.status == 400
        assert "sample_rate" in (await response.json())["err_msg"]


async def test_an_utterance_ends_when_the_client_stops_sending_audio(
    scripted_sim, caller_speech, http_session
) -> None:
    speech = caller_speech(LINE_1, 16000)[:-16000]  # no trailing silence at all
    url = f"{listen_url(scripted_sim)}?encoding=linear16&sample_rate=16000"
    async with http_session.ws_connect(url, headers={"Authorization": f"Token {KEY}"}) as ws:
        await ws.send_bytes(speech.tobytes())
        final = await ws.receive_json(timeout=5)
    assert final["is_final"] is True
    assert final["channel"]["alternatives"][0]["transcript"] == LINE_1
