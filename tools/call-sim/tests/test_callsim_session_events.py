"""Reading the agent's own record of the call from its session events."""

from __future__ import annotations

import pytest
from call_sim.session_events import (
    AGENT,
    CALLER,
    heard_between,
    llm_rounds_before,
    read_agent_record,
    reply_after,
    timestamp,
)

EVENTS = [
    {"createdAt": "2026-11-26T00:20:36.675Z", "agentStateChanged": {"newState": "LISTENING"}},
    {
        "createdAt": "2026-11-26T00:20:48.333437440Z",
        "conversationItemAdded": {
            "item": {
                "message": {
                    "role": "USER",
                    "content": [{"text": "Hi, I'd like to book a cleaning."}],
                    "metrics": {
                        "startedSpeakingAt": "2026-11-26T00:20:44.611889152Z",
                        "stoppedSpeakingAt": "2026-11-26T00:20:47.749504768Z",
                        "endOfTurnDelay": 0.577,
                    },
                    "createdAt": "2026-11-26T00:20:45.276571904Z",
                }
            }
        },
    },
    {
        "createdAt": "2026-11-26T00:20:48.365419520Z",
        "functionToolsExecuted": {
            "functionCalls": [
                {
                    "callId": "c1",
                    "arguments": '{"appointment_type": "cleaning"}',
                    "name": "check_availability",
                },
                {"callId": "c2", "arguments": "{}", "name": "end_call"},
            ],
            "functionCallOutputs": [
                {"name": "check_availability", "callId": "c1", "output": "down", "isError": True},
                {"name": "end_call", "callId": "c2"},
            ],
        },
    },
    {
        "createdAt": "2026-11-26T00:20:58.318296320Z",
        "conversationItemAdded": {
            "item": {
                "message": {
                    "role": "ASSISTANT",
                    "content": [{"text": "I can offer Saturday."}],
                    "metrics": {
                        "startedSpeakingAt": "2026-11-26T00:20:49.146724096Z",
                        "e2eLatency": 1.397,
                        "llmNodeTtft": 0.327,
                    },
                    "createdAt": "2026-11-26T00:20:48.388901632Z",
                }
            }
        },
    },
    {"conversationItemAdded": {"item": {"agentHandoff": {"newAgentId": "receptionist"}}}},
]


def test_timestamps_keep_nanosecond_fractions() -> None:
    assert timestamp("1970-01-01T00:00:01.500000000Z") == pytest.approx(1.5)
    assert timestamp("2026-11-26T00:20:36Z") == pytest.approx(1795653636.0)
    assert timestamp("") is None
    assert timestamp("yesterday") is None


def test_the_record_has_the_conversation_and_every_tool_with_its_outcome() -> None:
    record = read_agent_record(EVENTS)
    assert [(u.speaker, u.text) for u in record.utterances] == [
        (CALLER, "Hi, I'd like to book a cleaning."),
        (AGENT, "I can offer Saturday."),
    ]
    assert record.utterances[1].metrics == {"e2eLatency": 1.397, "llmNodeTtft": 0.327}
    assert [(t.name, t.is_error, t.output) for t in record.tool_calls] == [
        ("check_availability", True, "down"),
        ("end_call", False, ""),
    ]
    assert record.agent_text() == "I can offer Saturday."


def test_turns_are_paired_by_time() -> None:
    record = read_agent_record(EVENTS)
    heard = heard_between(record, timestamp("2026-11-26T00:20:44Z") or 0, None)
    assert heard is not None
    assert heard.text.startswith("Hi")
    stopped = heard.stopped_speaking_at or 0
    reply = reply_after(record, stopped, None)
    assert reply is not None
    assert reply.text == "I can offer Saturday."
    assert reply_after(record, stopped, stopped + 0.5) is None  # the next turn began first


def _tools(at: float, *call_ids: str) -> dict:
    return {
        "createdAt": f"2026-11-26T00:00:{at:06.3f}Z",
        "functionToolsExecuted": {
            "functionCalls": [{"callId": c, "name": "t", "arguments": "{}"} for c in call_ids],
            "functionCallOutputs": [{"callId": c, "name": "t"} for c in call_ids],
        },
    }


def _reply(at: float, *, by_llm: bool) -> dict:
    metrics = {"startedSpeakingAt": f"2026-11-26T00:00:{at:06.3f}Z"}
    if by_llm:
        metrics["llmNodeTtft"] = 0.3
    return {
        "conversationItemAdded": {
            "item": {
                "message": {"role": "ASSISTANT", "content": [{"text": "x"}], "metrics": metrics}
            }
        }
    }


@pytest.mark.parametrize(
    ("events", "rounds", "hook"),
    [
        ([_tools(11, "c1", "c2"), _reply(12, by_llm=True)], 2, False),  # tool batch + speaking
        ([_tools(11, "c1"), _reply(12, by_llm=False)], 1, False),  # a tool spoke (read-back)
        ([_tools(11, "commit_u1"), _reply(12, by_llm=False)], 0, True),  # the turn hook spoke
        ([_tools(11, "commit_u1"), _reply(12, by_llm=True)], 1, True),  # hook failed, LLM spoke
        ([_reply(12, by_llm=True), _tools(13, "c3")], 1, False),  # end_call after speaking
    ],
)
def test_llm_rounds_the_caller_waited_for(events, rounds: int, hook: bool) -> None:
    record = read_agent_record(events)
    reply = record.said_by(AGENT)[0]
    start = timestamp("2026-11-26T00:00:10.000Z")
    assert llm_rounds_before(record, reply, start, reply.started_speaking_at) == (rounds, hook)
