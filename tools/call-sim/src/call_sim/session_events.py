"""What the agent recorded about the call, read from its session events. Pure.

LiveKit Agents publishes its session to the room on the `lk.agent.session` byte-stream
topic (`AgentSessionEvent` protobufs; the caller turns them into dicts with the protobuf
JSON names). From them we take:

* `conversationItemAdded` messages: what the agent heard (role USER) and said (role
  ASSISTANT), each with the agent's own metrics (`stoppedSpeakingAt` is its end-of-speech
  anchor; a reply carries `e2eLatency`, `llmNodeTtft`, `llmNodeTtfs`, `ttsNodeTtfb`,
  `startedSpeakingAt`);
* `functionToolsExecuted`: every tool the agent ran, its arguments, its output and whether
  it failed.

Times are wall-clock seconds since the epoch (the agent and the caller share a clock here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CALLER = "caller"
AGENT = "receptionist"


@dataclass(frozen=True)
class Utterance:
    speaker: str  # CALLER (as the agent heard it) or AGENT (what it said)
    text: str
    created_at: float
    started_speaking_at: float | None
    stopped_speaking_at: float | None
    metrics: dict[str, float] = field(default_factory=dict)  # seconds
    interrupted: bool = False


# The receptionist's turn hook commits on the caller's yes without an LLM round, and reports
# that commit as a tool call whose id starts with this.
TURN_HOOK_CALL_PREFIX = "commit_"


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str
    output: str
    is_error: bool
    at: float
    by_turn_hook: bool = False  # made by the agent's code, not by an LLM round


@dataclass(frozen=True)
class AgentRecord:
    utterances: list[Utterance]
    tool_calls: list[ToolCall]

    def said_by(self, speaker: str) -> list[Utterance]:
        return [u for u in self.utterances if u.speaker == speaker]

    def agent_text(self) -> str:
        return "\n".join(u.text for u in self.said_by(AGENT))


def timestamp(value: Any) -> float | None:
    """A protobuf JSON timestamp ("2026-11-26T00:20:36.855743488Z") as epoch seconds."""
    if not isinstance(value, str) or not value:
        return None
    text = value.rstrip("Z")
    whole, _, fraction = text.partition(".")
    try:
        seconds = datetime.fromisoformat(whole + "+00:00").timestamp()
    except ValueError:
        return None
    return seconds + (float("0." + fraction) if fraction.isdigit() else 0.0)


def _metrics(raw: Mapping[str, Any]) -> dict[str, float]:
    return {
        key: float(value)
        for key, value in raw.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def _text(content: Iterable[Any]) -> str:
    return " ".join(
        str(part.get("text", "")).strip() for part in content if isinstance(part, Mapping)
    ).strip()


def read_agent_record(events: Iterable[Mapping[str, Any]]) -> AgentRecord:
    """The conversation and the tool calls, in the order the agent reported them."""
    utterances: list[Utterance] = []
    tools: list[ToolCall] = []
    for event in events:
        created = timestamp(event.get("createdAt")) or 0.0
        added = event.get("conversationItemAdded")
        if isinstance(added, Mapping):
            message = (added.get("item") or {}).get("message")
            if isinstance(message, Mapping) and message.get("role") in ("USER", "ASSISTANT"):
                raw_metrics = message.get("metrics") or {}
                utterances.append(
                    Utterance(
                        speaker=CALLER if message["role"] == "USER" else AGENT,
                        text=_text(message.get("content") or []),
                        created_at=timestamp(message.get("createdAt")) or created,
                        started_speaking_at=timestamp(raw_metrics.get("startedSpeakingAt")),
                        stopped_speaking_at=timestamp(raw_metrics.get("stoppedSpeakingAt")),
                        metrics=_metrics(raw_metrics),
                        interrupted=bool(message.get("interrupted", False)),
                    )
                )
        executed = event.get("functionToolsExecuted")
        if isinstance(executed, Mapping):
            outputs = {
                str(out.get("callId")): out for out in executed.get("functionCallOutputs") or []
            }
            for call in executed.get("functionCalls") or []:
                output = outputs.get(str(call.get("callId")), {})
                tools.append(
                    ToolCall(
                        name=str(call.get("name", "")),
                        arguments=str(call.get("arguments", "")),
                        output=str(output.get("output", "")),
                        is_error=bool(output.get("isError", False)),
                        at=created,
                        by_turn_hook=str(call.get("callId", "")).startswith(TURN_HOOK_CALL_PREFIX),
                    )
                )
    return AgentRecord(utterances=utterances, tool_calls=tools)


def reply_after(record: AgentRecord, moment: float, before: float | None) -> Utterance | None:
    """The agent's first utterance that started speaking at or after `moment` (and before
    `before`, when given)."""
    for utterance in record.said_by(AGENT):
        started = utterance.started_speaking_at
        if started is None or started < moment:
            continue
        if before is not None and started >= before:
            return None
        return utterance
    return None


def heard_between(record: AgentRecord, start: float, end: float | None) -> Utterance | None:
    """What the agent heard from the caller whose speech ended inside [start, end)."""
    for utterance in record.said_by(CALLER):
        stopped = utterance.stopped_speaking_at or utterance.created_at
        if stopped >= start and (end is None or stopped < end):
            return utterance
    return None


def llm_rounds_before(
    record: AgentRecord, reply: Utterance, since: float, until: float
) -> tuple[int, bool]:
    """The LLM rounds the caller waited for between `since` (their speech end) and the
    reply's first audio (`until`): each batch of tools an LLM round called (one event per
    batch), plus the reply's own round when an LLM wrote it (it carries an LLM TTFT). Also
    whether the agent's turn hook acted in that window."""
    window = [call for call in record.tool_calls if since <= call.at < until]
    batches = {call.at for call in window if not call.by_turn_hook}
    spoken_by_llm = "llmNodeTtft" in reply.metrics
    return len(batches) + int(spoken_by_llm), any(call.by_turn_hook for call in window)
