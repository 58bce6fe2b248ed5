"""The OpenAI stand-in, driven by the production livekit OpenAI plugin and raw HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai as openai_client
import pytest
from livekit.agents import llm
from livekit.plugins import openai

KEY = "sim-test-key"
LINE_1 = "I would like to book a cleaning appointment next Tuesday morning."
LINE_2 = "My name is Maria Garcia."
SLOTS = json.dumps({"slots": [{"label": "Tuesday at 9 AM", "slot_id": "slot-abc"}]})


@llm.function_tool
async def check_availability(service: str, date: str, part_of_day: str) -> str:
    """Look up free appointment slots."""
    return SLOTS


@llm.function_tool
async def book_appointment(slot_id: str, patient_name: str, notes: str) -> str:
    """Book a slot."""
    return "booked ref=BK42"


@llm.function_tool
async def send_confirmation(channel: str) -> str:
    """Send a confirmation message."""
    return "sent"


TOOLS = [check_availability, book_appointment, send_confirmation]


async def complete(
    model: openai.LLM, ctx: llm.ChatContext
) -> tuple[str, list[llm.FunctionToolCall], Any]:
    """Run one completion through the plugin; returns text, tool calls and usage."""
    text, calls, usage = "", [], None
    async with model.chat(chat_ctx=ctx, tools=TOOLS) as stream:
        async for chunk in stream:
            if chunk.delta is not None:
                text += chunk.delta.content or ""
                calls.extend(chunk.delta.tool_calls)
            if chunk.usage is not None:
                usage = chunk.usage
    return text, calls, usage


def record_response(
    ctx: llm.ChatContext,
    turn: str,
    text: str,
    calls: list[llm.FunctionToolCall],
    outputs: dict[str, str],
) -> None:
    """Add a model response to the context the way AgentSession does (one group id)."""
    if text:
        ctx.add_message(role="assistant", content=text, id=turn)
    for index, call in enumerate(calls):
        ctx.insert(
            llm.FunctionCall(
                id=f"{turn}/fnc_{index}",
                call_id=call.call_id,
                name=call.name,
                arguments=call.arguments,
            )
        )
        ctx.insert(
            llm.FunctionCallOutput(
                call_id=call.call_id, name=call.name, output=outputs[call.name], is_error=False
            )
        )


async def test_plugin_streams_the_scripted_conversation_with_tool_calls(scripted_sim) -> None:
    model = openai.LLM(model="gpt-4o-mini", base_url=f"{scripted_sim.base_url}/v1", api_key=KEY)
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="system", content="You are the Bright Smile receptionist.")
    try:
        text, calls, _ = await complete(model, ctx)
        assert (text, calls) == ("Thank you for calling Bright Smile Dental. How can I help?", [])
        ctx.add_message(role="assistant", content=text, id="item_greeting")

        ctx.add_message(role="user", content=LINE_1)
        text, calls, usage = await complete(model, ctx)
        assert text == "Let me check what we have."
        assert [(call.name, json.loads(call.arguments)) for call in calls] == [
            (
                "check_availability",
                {"service": "cleaning", "date": "2026-12-01", "part_of_day": "morning"},
            )
        ]
        assert calls[0].call_id.startswith("call_")
        assert usage is not None
        assert usage.completion_tokens > 0
        assert usage.prompt_tokens > 0
        record_response(ctx, "item_r1", text, calls, {"check_availability": SLOTS})

        text, calls, _ = await complete(model, ctx)
        assert (text, calls) == ("I have Tuesday at 9 AM. Does that work?", [])
        record_response(ctx, "item_r2", text, calls, {})

        ctx.add_message(role="user", content=LINE_2)
        text, calls, _ = await complete(model, ctx)
        assert text == ""
        assert [(call.name, json.loads(call.arguments)) for call in calls] == [
            (
                "book_appointment",
                {
                    "slot_id": "slot-abc",
                    "patient_name": "Maria Garcia",
                    "notes": 'new patient, "quoted" text, ünïcode',
                },
            ),
            ("send_confirmation", {"channel": "sms"}),
        ]
        assert len({call.call_id for call in calls}) == 2
        record_response(
            ctx,
            "item_r3",
            text,
            calls,
            {"book_appointment": "booked ref=BK42", "send_confirmation": "sent"},
        )

        text, _, _ = await complete(model, ctx)
        assert text == "You're booked. Your reference is BK42."

        ctx.add_message(role="assistant", content=text, id="item_r4")
        ctx.add_message(role="user", content="Anything else?")
        text, calls, _ = await complete(model, ctx)
        assert (text, calls) == ("Sorry, I did not catch that.", [])
    finally:
        await model.aclose()


async def test_concurrent_calls_at_different_positions_each_get_their_own_step(
    scripted_sim,
) -> None:
    """No per-conversation state: interleaved calls cannot steal each other's steps."""
    model = openai.LLM(model="gpt-4o-mini", base_url=f"{scripted_sim.base_url}/v1", api_key=KEY)

    def context(turns: int) -> llm.ChatContext:
        ctx = llm.ChatContext.empty()
        ctx.add_message(role="system", content="receptionist")
        if turns:
            ctx.add_message(role="user", content=LINE_1)
        return ctx

    try:
        results = await asyncio.gather(*(complete(model, context(i % 2)) for i in range(16)))
    finally:
        await model.aclose()
    for index, (text, calls, _) in enumerate(results):
        if index % 2:
            assert text == "Let me check what we have."
            assert calls[0].name == "check_availability"
        else:
            assert text.startswith("Thank you for calling")
            assert calls == []


async def test_sse_wire_format_matches_openai(scripted_sim) -> None:
    body = {
        "model": "gpt-4o-mini",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "system", "content": "x"}, {"role": "user", "content": LINE_1}],
        "tools": [
            {"type": "function", "function": {"name": "check_availability", "parameters": {}}}
        ],
    }
    async with (
        httpx.AsyncClient(base_url=scripted_sim.base_url) as client,
        client.stream(
            "POST", "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line async for line in response.aiter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    *streamed, usage_chunk = chunks
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["total_tokens"] > 0
    assert all(chunk["usage"] is None for chunk in streamed)
    deltas = [chunk["choices"][0]["delta"] for chunk in streamed]
    assert deltas[0]["role"] == "assistant"
    assert "".join(delta.get("content") or "" for delta in deltas) == "Let me check what we have."
    tool_deltas = [delta["tool_calls"][0] for delta in deltas if "tool_calls" in delta]
    first, *rest = tool_deltas
    assert first["index"] == 0
    assert first["type"] == "function"
    assert first["id"].startswith("call_")
    assert first["function"] == {"name": "check_availability", "arguments": ""}
    assert all(set(delta) == {"index", "function"} for delta in rest)
    assert (
        json.loads("".join(delta["function"]["arguments"] for delta in rest))["service"]
        == "cleaning"
    )
    assert [chunk["choices"][0]["finish_reason"] for chunk in streamed][-1] == "tool_calls"
    assert all(chunk["choices"][0]["finish_reason"] is None for chunk in streamed[:-1])


async def test_non_streaming_completion_through_the_openai_client(scripted_sim) -> None:
    client = openai_client.AsyncOpenAI(base_url=f"{scripted_sim.base_url}/v1", api_key=KEY)
    try:
        completion = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": LINE_1}],
            tools=[
                {"type": "function", "function": {"name": "check_availability", "parameters": {}}}
            ],
        )
        models = await client.models.list()
    finally:
        await client.close()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check what we have."
    assert choice.message.tool_calls[0].function.name == "check_availability"
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    assert [model.id for model in models.data] == ["provider-sim"]


@pytest.mark.parametrize(
    ("headers", "body", "status", "reason"),
    [
        ({}, {"model": "m", "messages": [{"role": "user", "content": "x"}]}, 401, "API key"),
        (
            {"Authorization": "Bearer wrong"},
            {"model": "m", "messages": [{"role": "user", "content": "x"}]},
            401,
            "API key",
        ),
        ({"Authorization": f"Bearer {KEY}"}, {"model": "m", "messages": []}, 400, "messages"),
        (
            {"Authorization": f"Bearer {KEY}"},
            {"messages": [{"role": "user", "content": "x"}]},
            400,
            "model",
        ),
        # the scripted step calls check_availability, which this request does not offer
        (
            {"Authorization": f"Bearer {KEY}"},
            {"model": "m", "messages": [{"role": "user", "content": LINE_1}]},
            422,
            "check_availability",
        ),
    ],
)
async def test_bad_requests_get_openai_style_errors_with_the_reason(
    scripted_sim, headers, body, status, reason
) -> None:
    async with httpx.AsyncClient(base_url=scripted_sim.base_url) as client:
        response = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == status
    assert reason in response.json()["error"]["message"]


async def test_scenario_mismatches_are_listed_in_the_state(scripted_sim) -> None:
    async with httpx.AsyncClient(base_url=scripted_sim.base_url) as client:
        await client.post(
            "/v1/chat/completions",
            json={
                "model": "m",
                "messages": [{"role": "user", "content": LINE_1}],
                "tools": [{"type": "function", "function": {"name": "other_tool"}}],
            },
            headers={"Authorization": f"Bearer {KEY}"},
        )
        state = (await client.get("/sim/state")).json()
    assert any("other_tool" in problem for problem in state["problems"])
