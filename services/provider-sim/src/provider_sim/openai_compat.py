"""OpenAI-compatible chat completions (streaming and not), answered from the scenario.

Streaming follows the Chat Completions SSE format: a first chunk carrying the role, one
chunk per token of content, tool calls as `tool_calls` deltas (the first delta of a call
carries index, id, type and name with empty arguments; later deltas carry argument
fragments), a last chunk with `finish_reason`, then a usage chunk with empty `choices` when
`stream_options.include_usage` is set, and `data: [DONE]`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from provider_sim.call_summary import is_summary_request, summary_reply
from provider_sim.latency import Stage
from provider_sim.metrics import Endpoint, Outcome
from provider_sim.runtime import SimRuntime
from provider_sim.scenario import (
    PlannedReply,
    ScenarioMismatchError,
    message_text,
    plan_reply,
    position_of,
)

router = APIRouter()

_TOKEN = re.compile(r"\s*\w{1,8}|\s*[^\w\s]+|\s+")
_ARGUMENT_FRAGMENT_CHARS = 4
_SYSTEM_FINGERPRINT = "fp_provider_sim"


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ToolFunction(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)


class ToolDefinition(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "function"
    function: ToolFunction


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[ToolDefinition] | None = None


def tokens_of(text: str) -> list[str]:
    """Split text into pieces of about the size of real tokens (words, long ones split)."""
    return _TOKEN.findall(text)


def _openai_error(status: int, message: str, error_type: str, code: str | None) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"message": message, "type": error_type, "param": None, "code": code}},
    )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _runtime(request: Request) -> SimRuntime:
    runtime: SimRuntime = request.app.state.runtime
    return runtime


@router.get("/v1/models")
async def list_models(request: Request) -> JSONResponse:
    runtime = _runtime(request)
    if not runtime.authorized(_bearer(request)):
        runtime.metrics.count(Endpoint.MODELS, Outcome.REJECTED)
        return _openai_error(
            401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
        )
    runtime.metrics.count(Endpoint.MODELS, Outcome.OK)
    return JSONResponse(
        {
            "object": "list",
            "data": [
                {"id": "provider-sim", "object": "model", "created": 0, "owned_by": "provider-sim"}
            ],
        }
    )


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request) -> JSONResponse | StreamingResponse:
    arrived = time.monotonic()
    runtime = _runtime(request)
    if not runtime.authorized(_bearer(request)):
        runtime.metrics.count(Endpoint.CHAT_COMPLETIONS, Outcome.REJECTED)
        return _openai_error(
            401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
        )
    try:
        body = ChatCompletionRequest.model_validate_json(await request.body())
    except ValidationError as error:
        runtime.metrics.count(Endpoint.CHAT_COMPLETIONS, Outcome.REJECTED)
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or 'body'}: {issue['msg']}"
            for issue in error.errors()
        )
        return _openai_error(400, f"Invalid request: {problems}", "invalid_request_error", None)

    offered = [tool.function.name for tool in body.tools] if body.tools else None
    try:
        reply = (
            _summary(body.messages)
            if is_summary_request(body.model_extra or {})
            else plan_reply(runtime.scenario, body.messages, offered_tools=offered)
        )
    except ScenarioMismatchError as mismatch:
        runtime.metrics.count(Endpoint.CHAT_COMPLETIONS, Outcome.REJECTED)
        runtime.record_problem(str(mismatch))
        return _openai_error(
            422, f"provider-sim: {mismatch}", "invalid_request_error", "scenario_mismatch"
        )

    runtime.metrics.count(Endpoint.CHAT_COMPLETIONS, Outcome.OK)
    if not reply.scripted:
        runtime.metrics.fallback_replies.inc()
    completion = _Completion(runtime, body, reply, arrived=arrived)
    if body.stream:
        return StreamingResponse(
            completion.stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-request-id": completion.id},
        )
    await asyncio.sleep(max(0.0, arrived + completion.total_delay() - time.monotonic()))
    return JSONResponse(completion.whole(), headers={"x-request-id": completion.id})


def _summary(messages: list[dict[str, Any]]) -> PlannedReply:
    """The post-call summary: outside the scenario's script, built from the call sent."""
    return PlannedReply(
        text=summary_reply(messages),
        tool_calls=(),
        position=position_of(messages),
        scripted=True,
    )


async def _sleep_until(due: float) -> None:
    wait = due - time.monotonic()
    if wait > 0:
        await asyncio.sleep(wait)


class _Completion:
    """One scripted completion rendered in the OpenAI wire format."""

    def __init__(
        self,
        runtime: SimRuntime,
        body: ChatCompletionRequest,
        reply: PlannedReply,
        *,
        arrived: float,
    ) -> None:
        self.runtime = runtime
        self.body = body
        self.reply = reply
        self.arrived = arrived  # the latencies count from the request's arrival
        self.id = "chatcmpl-" + secrets.token_hex(12)
        self.created = int(time.time())
        conversation = json.dumps(body.messages, sort_keys=True, default=str)
        self.key = hashlib.sha256(conversation.encode()).hexdigest()[:16]
        self.call_ids = [
            "call_" + hashlib.sha256(f"{self.key}:{index}".encode()).hexdigest()[:24]
            for index in range(len(reply.tool_calls))
        ]
        self.content_tokens = tokens_of(reply.text or "")
        self.argument_fragments = [
            [
                call.arguments[i : i + _ARGUMENT_FRAGMENT_CHARS]
                for i in range(0, len(call.arguments), _ARGUMENT_FRAGMENT_CHARS)
            ]
            for call in reply.tool_calls
        ]

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.reply.tool_calls else "stop"

    def completion_tokens(self) -> int:
        """One token per streamed delta, the way the pacing counts them."""
        return len(self._deltas())

    def usage(self) -> dict[str, Any]:
        prompt_chars = sum(len(message_text(message)) for message in self.body.messages)
        prompt_chars += len(json.dumps([tool.model_dump() for tool in self.body.tools or []]))
        prompt_tokens = math.ceil(prompt_chars / 4)
        completion_tokens = self.completion_tokens()
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def _token_delay(self, index: int) -> float:
        return self.runtime.latency.delay(Stage.LLM_STEP, f"{self.key}:{index}")

    def total_delay(self) -> float:
        ttft = self.runtime.latency.delay(Stage.LLM_TTFT, self.key)
        return ttft + sum(self._token_delay(i) for i in range(1, self.completion_tokens()))

    def whole(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.reply.text, "refusal": None}
        if self.reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call_id, call in zip(self.call_ids, self.reply.tool_calls, strict=True)
            ]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.body.model,
            "system_fingerprint": _SYSTEM_FINGERPRINT,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": self.usage(),
        }

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> str:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.body.model,
            "system_fingerprint": _SYSTEM_FINGERPRINT,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if self._include_usage:
            chunk["usage"] = None
        return f"data: {json.dumps(chunk)}\n\n"

    @property
    def _include_usage(self) -> bool:
        return self.body.stream_options is not None and self.body.stream_options.include_usage

    def _deltas(self) -> list[dict[str, Any]]:
        """Every delta after the role chunk, one per simulated token."""
        deltas: list[dict[str, Any]] = [{"content": token} for token in self.content_tokens]
        for index, (call_id, call) in enumerate(
            zip(self.call_ids, self.reply.tool_calls, strict=True)
        ):
            deltas.append(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": ""},
                        }
                    ]
                }
            )
            deltas.extend(
                {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
                for fragment in self.argument_fragments[index]
            )
        return deltas

    async def stream(self) -> AsyncIterator[str]:
        """Each delta is due at a fixed offset from the request's arrival (time to first
        token, then one token interval each), so the sim's own overhead does not add up."""
        due = self.arrived + self.runtime.latency.delay(Stage.LLM_TTFT, self.key)
        await _sleep_until(due)
        role_delta = {"role": "assistant", "content": "" if self.content_tokens else None}
        yield self._chunk({**role_delta, "refusal": None})
        for index, delta in enumerate(self._deltas()):
            if index > 0:
                due += self._token_delay(index)
                await _sleep_until(due)
            yield self._chunk(delta)
        yield self._chunk({}, self.finish_reason)
        if self._include_usage:
            usage_chunk = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.body.model,
                "system_fingerprint": _SYSTEM_FINGERPRINT,
                "choices": [],
                "usage": self.usage(),
            }
            yield f"data: {json.dumps(usage_chunk)}\n\n"
        yield "data: [DONE]\n\n"
