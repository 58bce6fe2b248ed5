"""Cartesia-compatible speech synthesis: the streaming websocket and the bytes endpoint.

Websocket (`/tts/websocket?cartesia_version=...`, key in `X-API-Key` or `api_key`): the
client sends JSON generation requests carrying `context_id`, `transcript`, `continue`,
`model_id`, `voice`, `output_format` and `add_timestamps`; text for one context arrives in
pieces with `continue: true` and ends with `continue: false`. For every context the server
sends `chunk` messages (base64 audio), `timestamps` messages (word timings) when asked,
`flush_done` for `flush: true`, and `done` once the context's input has ended and all of its
audio was sent. `{"context_id": ..., "cancel": true}` stops a context.

Audio of a context is paced like a real service: the first chunk after the time-to-first-
byte, the rest at the configured real-time factor. With Piper the real synthesis time
counts towards that budget instead of adding to it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.websockets import WebSocketDisconnect

from provider_sim.audio import (
    SUPPORTED_OUTPUT_ENCODINGS,
    Int16Array,
    TimedWord,
    encode,
    spread_words,
    synthetic_speech,
)
from provider_sim.config import TtsMode
from provider_sim.latency import Stage
from provider_sim.metrics import AudioDirection, Endpoint, Outcome
from provider_sim.runtime import SimRuntime

router = APIRouter()


class OutputFormat(BaseModel):
    model_config = ConfigDict(extra="allow")

    container: str = "raw"
    encoding: str = "pcm_s16le"
    sample_rate: int = Field(ge=8000, le=48000)


class GenerationRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model_id: str = Field(min_length=1)
    transcript: str
    output_format: OutputFormat
    context_id: str | None = None
    add_timestamps: bool = False
    flush: bool = False

    def check_format(self, *, containers: tuple[str, ...]) -> None:
        if self.output_format.container not in containers:
            raise ValueError(
                f"output_format.container '{self.output_format.container}' is not supported: "
                f"use {' or '.join(containers)}"
            )
        encodings = (
            ("pcm_s16le",) if self.output_format.container == "wav" else SUPPORTED_OUTPUT_ENCODINGS
        )
        if self.output_format.encoding not in encodings:
            raise ValueError(
                f"output_format.encoding '{self.output_format.encoding}' is not supported "
                f"with container '{self.output_format.container}': use {' or '.join(encodings)}"
            )


def _validation_message(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in issue['loc']) or 'body'}: {issue['msg']}"
        for issue in error.errors()
    )


def _presented_key(headers: Any, query: Any) -> str | None:
    key = headers.get("x-api-key") or query.get("api_key") or query.get("access_token")
    return str(key) if key else None


async def synthesize(
    runtime: SimRuntime, text: str, sample_rate: int
) -> tuple[Int16Array, list[TimedWord]]:
    """Speech for `text`: Piper in piper mode, otherwise a speech-shaped hum."""
    if runtime.settings.sim_tts_mode is TtsMode.PIPER and runtime.piper is not None:
        samples = await asyncio.to_thread(runtime.piper.synthesize, text, sample_rate)
        return samples, spread_words(text, samples.size / sample_rate)
    return synthetic_speech(
        text, sample_rate, ms_per_character=runtime.settings.sim_tts_ms_per_character
    )


@dataclass
class GenerationClock:
    """When the simulated generator is free to deliver the next piece of audio."""

    next_free: float = 0.0
    started: bool = False


async def paced_chunks(
    runtime: SimRuntime, text: str, sample_rate: int, clock: GenerationClock
) -> AsyncIterator[tuple[Int16Array, list[TimedWord]]]:
    """Synthesize `text` and yield (chunk, words of the whole piece) at simulated speed.

    The words come with the first chunk, with times relative to the piece's start.
    """
    arrival = time.monotonic()
    first_due = max(arrival, clock.next_free)
    if not clock.started:
        first_due = arrival + runtime.latency.delay(Stage.TTS_TTFB, text)
        clock.started = True
    samples, words = await synthesize(runtime, text, sample_rate)
    runtime.metrics.audio_seconds.labels(direction=AudioDirection.GENERATED).inc(
        samples.size / sample_rate
    )
    chunk_size = max(1, round(sample_rate * runtime.settings.sim_tts_chunk_ms / 1000.0))
    total = samples.size / sample_rate
    generation = runtime.latency.tts_generation_time(total, text)
    for index, offset in enumerate(range(0, samples.size, chunk_size)):
        due = first_due + generation * (offset / samples.size if samples.size else 0.0)
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        yield samples[offset : offset + chunk_size], words if index == 0 else []
    clock.next_free = first_due + generation


class _ContextEnd:
    pass


class _Flush:
    pass


class TtsSocketSession:
    def __init__(self, websocket: WebSocket, runtime: SimRuntime) -> None:
        self._ws = websocket
        self._runtime = runtime
        self._send_lock = asyncio.Lock()
        self._contexts: dict[
            str, tuple[asyncio.Queue[str | _ContextEnd | _Flush], asyncio.Task[None]]
        ] = {}
        self._generated_ids = 0

    async def run(self) -> None:
        try:
            while True:
                message = await self._ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is None:
                    await self._error(None, "binary messages are not supported: send JSON text")
                    continue
                await self._on_message(message["text"])
        except WebSocketDisconnect:
            pass
        finally:
            for _, task in self._contexts.values():
                task.cancel()
            await asyncio.gather(
                *(task for _, task in self._contexts.values()), return_exceptions=True
            )

    async def _send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            await self._ws.send_text(json.dumps(message))

    async def _error(self, context_id: str | None, reason: str) -> None:
        await self._send(
            {
                "type": "error",
                "context_id": context_id,
                "status_code": 400,
                "done": True,
                "error": reason,
            }
        )

    async def _on_message(self, text: str) -> None:
        try:
            raw = json.loads(text)
        except ValueError:
            await self._error(None, "message is not valid JSON")
            return
        if not isinstance(raw, dict):
            await self._error(None, "message must be a JSON object")
            return
        context_id = raw.get("context_id")
        if raw.get("cancel"):
            entry = self._contexts.pop(str(context_id), None)
            if entry is not None:
                entry[1].cancel()
            return
        try:
            request = GenerationRequest.model_validate(raw)
            request.check_format(containers=("raw",))
        except ValidationError as error:
            await self._error(context_id, _validation_message(error))
            return
        except ValueError as error:
            await self._error(context_id, str(error))
            return
        if request.context_id is None:
            self._generated_ids += 1
            request.context_id = f"sim-context-{self._generated_ids}"
        entry = self._contexts.get(request.context_id)
        if entry is None:
            queue: asyncio.Queue[str | _ContextEnd | _Flush] = asyncio.Queue()
            task = asyncio.create_task(self._generate(request, queue))
            entry = self._contexts[request.context_id] = (queue, task)
        queue = entry[0]
        if request.transcript.strip():
            queue.put_nowait(request.transcript)
        if request.flush:
            queue.put_nowait(_Flush())
        if not raw.get("continue", False):
            queue.put_nowait(_ContextEnd())

    async def _generate(
        self, request: GenerationRequest, queue: asyncio.Queue[str | _ContextEnd | _Flush]
    ) -> None:
        """Speak one context's pieces in order, as they arrive."""
        context_id = request.context_id
        output = request.output_format
        clock = GenerationClock()
        spoken = 0.0  # seconds of audio already sent in this context
        flushes = 0
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _ContextEnd):
                    await self._send(
                        {"type": "done", "done": True, "status_code": 200, "context_id": context_id}
                    )
                    return
                if isinstance(item, _Flush):
                    flushes += 1
                    await self._send(
                        {
                            "type": "flush_done",
                            "done": False,
                            "flush_done": True,
                            "flush_id": flushes,
                            "status_code": 206,
                            "context_id": context_id,
                        }
                    )
                    continue
                started = time.monotonic()
                piece_seconds = 0.0
                async for chunk, words in paced_chunks(
                    self._runtime, item, output.sample_rate, clock
                ):
                    await self._send(
                        {
                            "type": "chunk",
                            "data": base64.b64encode(encode(chunk, output.encoding)).decode(),
                            "done": False,
                            "status_code": 206,
                            "step_time": round((time.monotonic() - started) * 1000.0, 3),
                            "context_id": context_id,
                        }
                    )
                    if words and request.add_timestamps:
                        await self._send(
                            {
                                "type": "timestamps",
                                "done": False,
                                "status_code": 206,
                                "context_id": context_id,
                                "word_timestamps": {
                                    "words": [word.word for word in words],
                                    "start": [round(spoken + word.start, 3) for word in words],
                                    "end": [round(spoken + word.end, 3) for word in words],
                                },
                            }
                        )
                    piece_seconds += chunk.size / output.sample_rate
                spoken += piece_seconds
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            current = self._contexts.get(str(context_id))
            if current is not None and current[1] is asyncio.current_task():
                del self._contexts[str(context_id)]


@router.websocket("/tts/websocket")
async def tts_websocket(websocket: WebSocket) -> None:
    runtime: SimRuntime = websocket.app.state.runtime
    reason: tuple[int, str] | None = None
    if not runtime.authorized(_presented_key(websocket.headers, websocket.query_params)):
        reason = (401, "Invalid API key")
    elif not (
        websocket.query_params.get("cartesia_version") or websocket.headers.get("cartesia-version")
    ):
        reason = (400, "cartesia_version query parameter (or Cartesia-Version header) is required")
    if reason is not None:
        runtime.metrics.count(Endpoint.TTS_WEBSOCKET, Outcome.REJECTED)
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            await websocket.send_denial_response(
                JSONResponse({"error": reason[1]}, status_code=reason[0])
            )
        else:
            await websocket.close(code=1008, reason=reason[1])
        return
    runtime.metrics.count(Endpoint.TTS_WEBSOCKET, Outcome.OK)
    await websocket.accept()
    runtime.active_tts_sockets += 1
    try:
        await TtsSocketSession(websocket, runtime).run()
    finally:
        runtime.active_tts_sockets -= 1


@router.post("/tts/bytes", response_model=None)
async def tts_bytes(request: Request) -> Response:
    runtime: SimRuntime = request.app.state.runtime
    if not runtime.authorized(_presented_key(request.headers, request.query_params)):
        runtime.metrics.count(Endpoint.TTS_BYTES, Outcome.REJECTED)
        return JSONResponse({"error": "Invalid API key"}, status_code=401)
    if not request.headers.get("cartesia-version"):
        runtime.metrics.count(Endpoint.TTS_BYTES, Outcome.REJECTED)
        return JSONResponse({"error": "Cartesia-Version header is required"}, status_code=400)
    try:
        body = GenerationRequest.model_validate_json(await request.body())
        body.check_format(containers=("raw", "wav"))
    except ValidationError as error:
        runtime.metrics.count(Endpoint.TTS_BYTES, Outcome.REJECTED)
        return JSONResponse({"error": _validation_message(error)}, status_code=400)
    except ValueError as error:
        runtime.metrics.count(Endpoint.TTS_BYTES, Outcome.REJECTED)
        return JSONResponse({"error": str(error)}, status_code=400)
    runtime.metrics.count(Endpoint.TTS_BYTES, Outcome.OK)
    output = body.output_format

    async def audio() -> AsyncIterator[bytes]:
        chunks = paced_chunks(runtime, body.transcript, output.sample_rate, GenerationClock())
        if output.container == "wav":
            pieces = [chunk async for chunk, _ in chunks]
            yield _wav(pieces, output.sample_rate)
            return
        async for chunk, _ in chunks:
            yield encode(chunk, output.encoding)

    media_type = "audio/wav" if output.container == "wav" else "application/octet-stream"
    return StreamingResponse(audio(), media_type=media_type)


def _wav(pieces: list[Int16Array], sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    data = b"".join(encode(piece, "pcm_s16le") for piece in pieces)
    with contextlib.closing(wave.open(buffer, "wb")) as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(data)
    return buffer.getvalue()
