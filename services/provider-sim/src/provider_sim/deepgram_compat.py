"""Deepgram-compatible live transcription websocket (`/v1/listen`).

The client sends binary 16-bit PCM and the JSON control messages `KeepAlive`, `Finalize`
and `CloseStream`; the server answers with `SpeechStarted`, `Results` (interim and final,
`speech_final` at the end of an utterance), `UtteranceEnd` (when `utterance_end_ms` is set)
and a closing `Metadata`, as Deepgram does.

Utterance boundaries come from the audio level (see `endpointing.py`). The words come
either from the scenario (scripted: the call's next caller line, revealed in interim
results while the caller speaks and completed at the end of the utterance) or from real
recognition with pocketsphinx.

Scripted mode keeps one caller-line cursor per call. A call is the websocket connection,
or, when the client sends Deepgram `tag` parameters, the tags (so a reconnecting client
continues where it was). Speech that starts less than SIM_STT_TURN_GAP_MS after the
previous utterance belongs to the same caller line: a caller pausing mid-sentence does not
skip ahead in the script.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse
from starlette.datastructures import QueryParams
from starlette.websockets import WebSocketDisconnect

from provider_sim.audio import Int16Array, TimedWord, pcm16_from_bytes, resample, spread_words
from provider_sim.config import Settings, SttMode
from provider_sim.endpointing import EndpointEvent, EndpointKind, EnergyEndpointer
from provider_sim.latency import Stage
from provider_sim.metrics import AudioDirection, Endpoint, Outcome
from provider_sim.runtime import SimRuntime
from provider_sim.speech.sphinx_stt import SAMPLE_RATE as SPHINX_RATE
from provider_sim.speech.sphinx_stt import SphinxDecoderPool, SphinxUtterance

router = APIRouter()
logger = logging.getLogger(__name__)

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
_IDLE_POLL_SECONDS = 0.05
_SECONDS_PER_CHARACTER = 0.055  # how fast a caller line is expected to be spoken
_PREROLL_SECONDS = 0.3
_WORD_EDGE = re.compile(r"^[^\w']+|[^\w']+$")


@dataclass(frozen=True)
class ListenOptions:
    sample_rate: int
    channels: int
    model: str
    interim_results: bool
    vad_events: bool
    punctuate: bool
    endpointing: float  # seconds of silence that end an utterance
    utterance_end: float | None
    cursor_key: str | None  # from Deepgram tags; None = per connection


def _flag(params: QueryParams, name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"query parameter '{name}' must be true or false, not '{value}'")


def _integer(params: QueryParams, name: str, default: int, low: int, high: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"query parameter '{name}' must be an integer, not '{value}'") from None
    if not low <= number <= high:
        raise ValueError(f"query parameter '{name}' must be between {low} and {high}")
    return number


def parse_listen_options(params: QueryParams, settings: Settings) -> ListenOptions:
    """Validate the query string the way Deepgram would reject it: with a reason."""
    encoding = params.get("encoding", "linear16")
    if encoding != "linear16":
        raise ValueError(f"encoding '{encoding}' is not supported by provider-sim: use linear16")
    endpointing_ms = settings.sim_stt_endpointing_ms
    raw_endpointing = params.get("endpointing")
    if raw_endpointing is not None and raw_endpointing.lower() not in _FALSE:
        # Deepgram's own model ends utterances after as little as 10 ms of silence; an
        # energy detector cannot, so the configured minimum applies.
        endpointing_ms = max(endpointing_ms, _integer(params, "endpointing", 10, 0, 60_000))
    utterance_end_ms = params.get("utterance_end_ms")
    tags = params.getlist("tag")
    return ListenOptions(
        sample_rate=_integer(params, "sample_rate", 16000, 8000, 48000),
        channels=_integer(params, "channels", 1, 1, 8),
        model=params.get("model", "nova-3"),
        interim_results=_flag(params, "interim_results", False),
        vad_events=_flag(params, "vad_events", False),
        punctuate=_flag(params, "punctuate", False),
        endpointing=endpointing_ms / 1000.0,
        utterance_end=(
            _integer(params, "utterance_end_ms", 1000, 1000, 5000) / 1000.0
            if utterance_end_ms is not None
            else None
        ),
        cursor_key="tag:" + "\x00".join(sorted(tags)) if tags else None,
    )


def _presented_key(websocket: WebSocket) -> str | None:
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() in ("token", "bearer") and token.strip():
        return token.strip()
    return websocket.query_params.get("token")


async def _deny(websocket: WebSocket, status: int, message: str, request_id: str) -> None:
    body = {
        "err_code": "Bad Request" if status == 400 else "INVALID_AUTH",
        "err_msg": message,
        "request_id": request_id,
    }
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse(body, status_code=status))
    else:
        await websocket.close(code=1008, reason=message[:120])


@router.websocket("/v1/listen")
async def listen(websocket: WebSocket) -> None:
    runtime: SimRuntime = websocket.app.state.runtime
    request_id = str(uuid.uuid4())
    if not runtime.authorized(_presented_key(websocket)):
        runtime.metrics.count(Endpoint.LISTEN, Outcome.REJECTED)
        await _deny(websocket, 401, "Invalid credentials.", request_id)
        return
    try:
        options = parse_listen_options(websocket.query_params, runtime.settings)
    except ValueError as error:
        runtime.metrics.count(Endpoint.LISTEN, Outcome.REJECTED)
        await _deny(websocket, 400, str(error), request_id)
        return
    runtime.metrics.count(Endpoint.LISTEN, Outcome.OK)
    await websocket.accept(headers=[(b"dg-request-id", request_id.encode())])
    session = ListenSession(websocket, runtime, options, request_id)
    runtime.active_listen_streams += 1
    try:
        await session.run()
    finally:
        runtime.active_listen_streams -= 1


@dataclass(frozen=True)
class Transcript:
    text: str
    words: list[TimedWord]
    confidence: float


class Recognizer(Protocol):
    async def start(self, at: float, silence_before: float, preroll: Int16Array) -> None: ...

    async def feed(self, samples: Int16Array) -> None: ...

    async def interim(self, speech_seconds: float) -> str | None: ...

    async def finish(self, start: float, end: float) -> Transcript: ...

    async def close(self) -> None: ...


class ScriptedRecognizer:
    """Hears the scenario's caller lines: the next line whenever a new caller turn starts."""

    def __init__(self, runtime: SimRuntime, cursor_key: str) -> None:
        self._runtime = runtime
        self._cursor_key = cursor_key
        self._turn_gap = runtime.settings.sim_stt_turn_gap_ms / 1000.0
        self._words: list[str] = []
        self._delivered = True
        self.line_index = -1

    async def start(self, at: float, silence_before: float, preroll: Int16Array) -> None:
        if silence_before < self._turn_gap and self.line_index >= 0:
            return  # a pause inside the same caller turn
        self.line_index, line = self._runtime.next_caller_line(self._cursor_key)
        if line is None:
            scenario = self._runtime.scenario
            self._runtime.record_problem(
                f"caller spoke turn {self.line_index + 1} but scenario '{scenario.name}' "
                f"has {len(scenario.turns)} caller turns"
            )
        self._words = (line or "").split()
        self._delivered = False

    async def feed(self, samples: Int16Array) -> None:
        return None

    async def interim(self, speech_seconds: float) -> str | None:
        if self._delivered or len(self._words) < 2:
            return None
        expected = max(0.5, _SECONDS_PER_CHARACTER * len(" ".join(self._words)))
        count = min(
            len(self._words) - 1, max(1, math.ceil(speech_seconds / expected * len(self._words)))
        )
        return " ".join(self._words[:count])

    async def finish(self, start: float, end: float) -> Transcript:
        if self._delivered:
            return Transcript("", [], 0.0)
        self._delivered = True
        text = " ".join(self._words)
        words = [
            TimedWord(word.word, start + word.start, start + word.end)
            for word in spread_words(text, max(0.0, end - start))
        ]
        return Transcript(text, words, 0.99 if text else 0.0)

    async def close(self) -> None:
        if self._cursor_key.startswith("conn:"):
            self._runtime.forget_cursor(self._cursor_key)  # tag cursors outlive a reconnect


class SphinxRecognizer:
    """Real recognition; each utterance borrows a decoder from the shared pool."""

    def __init__(self, pool: SphinxDecoderPool, sample_rate: int) -> None:
        self._pool = pool
        self._sample_rate = sample_rate
        self._utterance: SphinxUtterance | None = None

    def _to_16k(self, samples: Int16Array) -> Int16Array:
        return resample(samples, self._sample_rate, SPHINX_RATE)

    async def start(self, at: float, silence_before: float, preroll: Int16Array) -> None:
        offset = max(0.0, at - len(preroll) / self._sample_rate)
        self._utterance = await asyncio.to_thread(SphinxUtterance, self._pool, offset=offset)
        await asyncio.to_thread(self._utterance.feed, self._to_16k(preroll))

    async def feed(self, samples: Int16Array) -> None:
        if self._utterance is not None:
            await asyncio.to_thread(self._utterance.feed, self._to_16k(samples))

    async def interim(self, speech_seconds: float) -> str | None:
        if self._utterance is None:
            return None
        return await asyncio.to_thread(self._utterance.partial) or None

    async def finish(self, start: float, end: float) -> Transcript:
        utterance, self._utterance = self._utterance, None
        if utterance is None:
            return Transcript("", [], 0.0)
        recognition = await asyncio.to_thread(utterance.finish)
        return Transcript(recognition.text, recognition.words, 0.9 if recognition.text else 0.0)

    async def close(self) -> None:
        if self._utterance is not None:
            await self.finish(0.0, 0.0)


class ListenSession:
    def __init__(
        self, websocket: WebSocket, runtime: SimRuntime, options: ListenOptions, request_id: str
    ) -> None:
        self._ws = websocket
        self._runtime = runtime
        self._options = options
        self._request_id = request_id
        self._model_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"provider-sim/{options.model}"))
        settings = runtime.settings
        self._endpointer = EnergyEndpointer(
            sample_rate=options.sample_rate,
            threshold_dbfs=settings.sim_stt_speech_threshold_dbfs,
            endpoint_silence=options.endpointing,
        )
        self._recognizer: Recognizer
        if settings.sim_stt_mode is SttMode.POCKETSPHINX and runtime.sphinx is not None:
            self._recognizer = SphinxRecognizer(runtime.sphinx, options.sample_rate)
        else:
            self._recognizer = ScriptedRecognizer(
                runtime, options.cursor_key or f"conn:{request_id}"
            )
        self._interim_interval = settings.sim_stt_interim_interval_ms / 1000.0
        self._last_interim_at = 0.0
        self._last_interim_text = ""
        self._utterance_index = 0
        self._last_word_end: float | None = None
        self._utterance_end_pending = False
        self._preroll: deque[Int16Array] = deque()
        self._preroll_samples = 0
        self._outbox: asyncio.Queue[tuple[float, dict[str, Any]] | None] = asyncio.Queue()

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        try:
            await self._receive_loop()
        except WebSocketDisconnect:
            pass
        finally:
            await self._recognizer.close()
            self._outbox.put_nowait(None)
            try:
                await asyncio.wait_for(sender, timeout=5.0)
            except Exception as error:  # the client is gone: nothing left to tell it
                logger.debug("listen stream closed early", extra={"reason": type(error).__name__})

    async def _receive_loop(self) -> None:
        last_audio_at = time.monotonic()
        while True:
            waiting_for_silence = self._endpointer.in_speech or self._utterance_end_pending
            try:
                message = await asyncio.wait_for(
                    self._ws.receive(), _IDLE_POLL_SECONDS if waiting_for_silence else None
                )
            except TimeoutError:
                idle = time.monotonic() - last_audio_at
                await self._handle(self._endpointer.idle(idle), idle=idle)
                continue
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes"):
                last_audio_at = time.monotonic()
                await self._on_audio(message["bytes"])
            elif message.get("text") and await self._on_control(message["text"]):
                return

    async def _on_control(self, text: str) -> bool:
        """Handle a JSON control message; True when the stream is over."""
        try:
            kind = json.loads(text).get("type")
        except (ValueError, AttributeError):
            kind = None
        if kind == "KeepAlive":
            return False
        if kind == "Finalize":
            await self._handle(self._endpointer.force_end(), from_finalize=True)
            return False
        if kind == "CloseStream":
            await self._handle(self._endpointer.force_end(), from_finalize=True)
            self._enqueue(0.0, self._metadata())
            return True
        logger.warning("unknown control message ignored", extra={"control_type": str(kind)[:40]})
        return False

    async def _on_audio(self, data: bytes) -> None:
        options = self._options
        samples = pcm16_from_bytes(data, options.channels)
        self._runtime.metrics.audio_seconds.labels(direction=AudioDirection.RECEIVED).inc(
            samples.size / options.sample_rate
        )
        was_in_speech = self._endpointer.in_speech
        self._remember(samples)
        events = self._endpointer.push(data)
        if was_in_speech and self._endpointer.in_speech and not events:
            await self._recognizer.feed(samples)
        await self._handle(events)
        if self._endpointer.in_speech and options.interim_results:
            position = self._endpointer.position
            if position - self._last_interim_at >= self._interim_interval:
                self._last_interim_at = position
                speech_seconds = position - self._endpointer.speech_started_at
                text = await self._recognizer.interim(speech_seconds)
                if text and text != self._last_interim_text:
                    self._last_interim_text = text
                    self._enqueue(
                        0.0,
                        self._results(
                            text, [], 0.9, is_final=False, speech_final=False, from_finalize=False
                        ),
                    )

    def _remember(self, samples: Int16Array) -> None:
        self._preroll.append(samples)
        self._preroll_samples += samples.size
        limit = _PREROLL_SECONDS * self._options.sample_rate
        while self._preroll and self._preroll_samples - self._preroll[0].size >= limit:
            self._preroll_samples -= self._preroll.popleft().size

    async def _handle(
        self, events: list[EndpointEvent], *, from_finalize: bool = False, idle: float = 0.0
    ) -> None:
        for event in events:
            if event.kind is EndpointKind.SPEECH_START:
                self._utterance_end_pending = False
                self._last_interim_at = event.at
                self._last_interim_text = ""
                preroll = (
                    np.concatenate(list(self._preroll)) if self._preroll else np.zeros(0, np.int16)
                )
                await self._recognizer.start(
                    event.at, event.silence_before, preroll.astype(np.int16)
                )
                if self._options.vad_events:
                    self._enqueue(
                        0.0,
                        {
                            "type": "SpeechStarted",
                            "channel": [0, 1],
                            "timestamp": round(event.at, 3),
                        },
                    )
            else:
                await self._end_utterance(event.at, from_finalize=from_finalize)
        if (
            self._utterance_end_pending
            and self._options.utterance_end is not None
            and not self._endpointer.in_speech
            and self._endpointer.silence_since_speech(idle) >= self._options.utterance_end
        ):
            self._utterance_end_pending = False
            self._enqueue(
                0.0,
                {
                    "type": "UtteranceEnd",
                    "channel": [0, 1],
                    "last_word_end": round(self._last_word_end or 0.0, 3),
                },
            )

    async def _end_utterance(self, end: float, *, from_finalize: bool) -> None:
        detected_at = time.monotonic()
        start = self._endpointer.speech_started_at
        transcript = await self._recognizer.finish(start, end)
        self._utterance_index += 1
        key = f"{self._utterance_index}:{transcript.text}"
        delay = self._runtime.latency.delay(Stage.STT_FINAL, key)
        remaining = max(0.0, delay - (time.monotonic() - detected_at))
        if transcript.words:
            self._last_word_end = transcript.words[-1].end
            self._utterance_end_pending = self._options.utterance_end is not None
        self._enqueue(
            remaining,
            self._results(
                transcript.text,
                transcript.words,
                transcript.confidence,
                is_final=True,
                speech_final=True,
                from_finalize=from_finalize,
                start=start,
                end=end,
            ),
        )

    def _enqueue(self, delay: float, message: dict[str, Any]) -> None:
        self._outbox.put_nowait((time.monotonic() + delay, message))

    async def _send_loop(self) -> None:
        while (item := await self._outbox.get()) is not None:
            due, message = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._ws.send_text(json.dumps(message))
        await self._ws.close(code=1000)

    def _results(
        self,
        text: str,
        words: list[TimedWord],
        confidence: float,
        *,
        is_final: bool,
        speech_final: bool,
        from_finalize: bool,
        start: float | None = None,
        end: float | None = None,
    ) -> dict[str, Any]:
        punctuate = self._options.punctuate
        shown = _punctuated(text) if punctuate and is_final and text else text
        begin = self._endpointer.speech_started_at if start is None else start
        finish = self._endpointer.position if end is None else end
        shown_words = shown.split()
        return {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": round(max(0.0, finish - begin), 3),
            "start": round(begin, 3),
            "is_final": is_final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {
                "alternatives": [
                    {
                        "transcript": shown,
                        "confidence": confidence,
                        "words": [
                            {
                                "word": _WORD_EDGE.sub("", word.word).lower(),
                                "start": round(word.start, 3),
                                "end": round(word.end, 3),
                                "confidence": confidence,
                                "punctuated_word": shown_words[index]
                                if index < len(shown_words)
                                else word.word,
                            }
                            for index, word in enumerate(words)
                        ],
                    }
                ]
            },
            "metadata": {
                "request_id": self._request_id,
                "model_info": {
                    "name": self._options.model,
                    "version": "provider-sim",
                    "arch": self._options.model,
                },
                "model_uuid": self._model_uuid,
            },
        }

    def _metadata(self) -> dict[str, Any]:
        return {
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": self._request_id,
            "sha256": "",
            "created": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "duration": round(self._endpointer.position, 3),
            "channels": self._options.channels,
            "models": [self._model_uuid],
            "model_info": {
                self._model_uuid: {
                    "name": self._options.model,
                    "version": "provider-sim",
                    "arch": self._options.model,
                }
            },
        }


def _punctuated(text: str) -> str:
    """Recognisers without punctuation give lowercase words; make it a sentence."""
    if text[-1] not in ".?!":
        text += "."
    return text[0].upper() + text[1:]
