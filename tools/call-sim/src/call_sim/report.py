"""The JSON report of one simulated call. Pure: it only combines what was observed.

Sources, and why each is the most honest one for its part:

* transcript and tool calls — the agent's own session events (`lk.agent.session`): what
  it heard, what it said, every tool it executed with its output and error flag;
* per-turn latency — the caller's own clock (its speech end → the reply's first audio);
* the agent's per-turn stages — the metrics the agent attached to each message;
* the stage breakdown over the call — the worker's `/metrics`, scraped before and after
  (histogram counts and sums of `receptionist_stage_latency_seconds`, tool latency by
  outcome, `receptionist_bookings_total` by outcome);
* bookings and callbacks — the scheduling API after the call, by the scenario's phones;
* whether the model script fitted — provider-sim's `/sim/state` problems.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from call_sim.caller import CallRecord, TurnResult
from call_sim.expectations import Check
from call_sim.latency import (
    Breakdown,
    ProviderProfile,
    TurnDetection,
    breakdown,
    percentile,
    rounds_before_speech,
)
from call_sim.scenario import CallScenario
from call_sim.session_events import (
    AGENT,
    AgentRecord,
    Utterance,
    heard_between,
    llm_rounds_before,
    read_agent_record,
    reply_after,
)
from call_sim.worker_metrics import (
    BOOKINGS_COUNTER,
    Samples,
    counts_by,
    stage_histograms,
    tool_mean_seconds,
    tool_outcomes,
)

# agent message metric → our stage name (the worker's `stage` label where there is one)
CALLER_STAGES = {"endOfTurnDelay": "end_of_utterance", "transcriptionDelay": "transcription"}
REPLY_STAGES = {
    "llmNodeTtft": "llm_ttft",
    "llmNodeTtfs": "llm_first_sentence",
    "ttsNodeTtfb": "tts_ttfb",
    "e2eLatency": "end_to_end",
}


@dataclass(frozen=True)
class TurnAnalysis:
    index: int
    caller_said: str
    agent_heard: str | None
    reply: str | None
    e2e_ms: float | None
    agent_stages_ms: dict[str, float]
    inbound_ms: float | None  # caller's speech end → its audio reached the STT
    agent_ms: float | None  # STT final → the agent's first audio out, beyond the providers
    outbound_ms: float | None  # the agent's first audio frame out → the caller hears it
    breakdown: Breakdown | None
    llm_rounds: int | None = None  # LLM rounds the caller waited for before the reply

    def as_dict(self) -> dict[str, Any]:
        return {
            "turn": self.index + 1,
            "caller_said": self.caller_said,
            "agent_heard": self.agent_heard,
            "reply": self.reply,
            "e2e_ms": None if self.e2e_ms is None else round(self.e2e_ms, 1),
            "agent_stages_ms": {k: round(v, 1) for k, v in self.agent_stages_ms.items()},
            "system_added_legs_ms": {
                "caller_to_stt": _round(self.inbound_ms),
                "agent": _round(self.agent_ms),
                "agent_to_caller": _round(self.outbound_ms),
            },
            "breakdown_ms": self.breakdown.as_dict() if self.breakdown else None,
            "llm_rounds": self.llm_rounds,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def analyse_call(
    scenario: CallScenario,
    record: CallRecord,
    *,
    profile: ProviderProfile | None,
    detection: TurnDetection,
) -> tuple[AgentRecord, list[TurnAnalysis]]:
    """What the agent recorded about one call, and its turns analysed on the agent's clock."""
    agent = read_agent_record(event.event for event in record.session_events)
    turns = analyse_turns(
        scenario,
        record,
        agent,
        wall_offset=record.wall_offset,
        profile=profile,
        detection=detection,
    )
    return agent, turns


def analyse_turns(
    scenario: CallScenario,
    record: CallRecord,
    agent: AgentRecord,
    *,
    wall_offset: float,
    profile: ProviderProfile | None,
    detection: TurnDetection,
) -> list[TurnAnalysis]:
    """Pair each caller turn with what the agent heard and said, and split its latency.

    `wall_offset` turns the caller's monotonic clock into wall-clock time (the agent's).
    Without a provider profile (real providers) there is no breakdown.
    """
    analyses = []
    turns: Sequence[TurnResult] = record.turns
    for position, turn in enumerate(turns):
        started = turn.started_at + wall_offset
        stopped = turn.stopped_at + wall_offset
        following = (
            turns[position + 1].started_at + wall_offset if position + 1 < len(turns) else None
        )
        heard: Utterance | None = heard_between(agent, started, following)
        reply = reply_after(agent, stopped, following)
        stages: dict[str, float] = {}
        if heard is not None:
            stages |= {
                name: heard.metrics[key] * 1000
                for key, name in CALLER_STAGES.items()
                if key in heard.metrics
            }
        if reply is not None:
            stages |= {
                name: reply.metrics[key] * 1000
                for key, name in REPLY_STAGES.items()
                if key in reply.metrics
            }
        llm_rounds, by_hook = None, False
        if reply is not None and reply.started_speaking_at is not None:
            llm_rounds, by_hook = llm_rounds_before(
                agent, reply, stopped, reply.started_speaking_at
            )
        split = None
        e2e_ms = turn.latency_ms
        if profile is not None and e2e_ms is not None and turn.index < len(scenario.turns):
            steps = scenario.turns[turn.index].model
            rounds = rounds_before_speech(
                steps, reply.text if reply else None, first_clause=detection.first_clause
            )
            if by_hook and llm_rounds == 0:
                rounds = []  # the turn hook answered: no LLM round at all
            split = breakdown(e2e_ms / 1000, profile, detection, rounds)
        outbound = None
        if reply is not None and reply.started_speaking_at is not None and turn.agent_audio_at:
            outbound = (turn.agent_audio_at + wall_offset - reply.started_speaking_at) * 1000
        inbound = agent_ms = None
        final_at = _stt_final_at(heard)
        if split is not None and final_at is not None:
            # the STT final left provider-sim `stt_ms` after the caller's audio end reached it
            inbound = (final_at - stopped) * 1000 - split.stt_ms
            if reply is not None and reply.started_speaking_at is not None:
                agent_ms = (reply.started_speaking_at - final_at) * 1000 - (
                    split.ideal_ms - split.stt_ms
                )
        analyses.append(
            TurnAnalysis(
                index=turn.index,
                caller_said=turn.text,
                agent_heard=heard.text if heard else None,
                reply=reply.text if reply else None,
                e2e_ms=e2e_ms,
                agent_stages_ms=stages,
                inbound_ms=inbound,
                agent_ms=agent_ms,
                outbound_ms=outbound,
                breakdown=split,
                llm_rounds=llm_rounds,
            )
        )
    return analyses


def _stt_final_at(heard: Utterance | None) -> float | None:
    """When the agent received the caller's final transcript (wall clock)."""
    if heard is None or heard.stopped_speaking_at is None:
        return None
    delay = heard.metrics.get("transcriptionDelay")
    return None if delay is None else heard.stopped_speaking_at + delay


@dataclass(frozen=True)
class LatencyRow:
    name: str
    values_ms: tuple[float, ...]
    note: str = ""

    @property
    def p50(self) -> float | None:
        return percentile(self.values_ms, 0.5)

    @property
    def p95(self) -> float | None:
        return percentile(self.values_ms, 0.95)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n": len(self.values_ms),
            "p50_ms": _round(self.p50),
            "p95_ms": _round(self.p95),
            "note": self.note,
        }


def latency_rows(
    turns: Sequence[TurnAnalysis],
    detection: TurnDetection,
    profile: ProviderProfile | None = None,
) -> list[LatencyRow]:
    """The latency table: agent stages, end to end, and where end to end went."""

    def stage(name: str) -> tuple[float, ...]:
        return tuple(t.agent_stages_ms[name] for t in turns if name in t.agent_stages_ms)

    def split(name: str) -> tuple[float, ...]:
        return tuple(getattr(t.breakdown, name) for t in turns if t.breakdown is not None)

    def measured(name: str) -> tuple[float, ...]:
        return tuple(v for t in turns if (v := getattr(t, name)) is not None)

    def table(
        values: Callable[[str], tuple[float, ...]], rows: Iterable[tuple[str, str, str]]
    ) -> list[LatencyRow]:
        """(label, measure, meaning) rows, each measure read with `values`."""
        return [LatencyRow(label, values(name), meaning) for label, name, meaning in rows]

    rows = table(
        stage,
        (
            ("end_of_utterance", "end_of_utterance", "agent: its end of speech → turn committed"),
            ("transcription", "transcription", "agent: its end of speech → STT final"),
            ("llm_ttft", "llm_ttft", "agent: LLM time to first token (the speaking round)"),
            ("llm_first_sentence", "llm_first_sentence", "agent: LLM → first sentence for the TTS"),
            ("tts_ttfb", "tts_ttfb", "agent: TTS time to first audio"),
            ("end_to_end (agent)", "end_to_end", "agent: its end of speech → its first audio out"),
        ),
    )
    rows.append(
        LatencyRow(
            "end_to_end (caller)",
            measured("e2e_ms"),
            "caller: its speech end → reply's first audio heard",
        )
    )
    if any(t.breakdown is not None for t in turns):
        detection_config = (
            f"VAD silence {detection.vad_min_silence * 1000:.0f} ms, endpointing min"
            f" {detection.endpointing_min_delay * 1000:.0f} ms"
        )
        rows += table(
            split,
            (
                ("  providers", "providers_ms", "simulated STT + LLM + TTS on the critical path"),
                ("    stt", "stt_ms", "provider-sim endpointing + final delay"),
                ("    llm", "llm_ms", "TTFT + streamed deltas waited for, every round"),
                ("    tts", "tts_ms", "time to first byte"),
                (
                    "  turn detection",
                    "turn_detection_ms",
                    f"our config beyond providers ({detection_config})",
                ),
                ("  system added", "system_added_ms", "transport, framework, tools, CPU"),
            ),
        )
        rows += table(
            measured,
            (
                (
                    "    caller → STT",
                    "inbound_ms",
                    "WebRTC in, the agent's audio input, the STT plugin's 50 ms chunks",
                ),
                (
                    "    agent",
                    "agent_ms",
                    "STT final → first audio out, beyond the providers: framework, tools",
                ),
            ),
        )
        rows += _agent_overheads(turns, profile)
        rows += table(
            measured,
            (
                (
                    "    agent → caller",
                    "outbound_ms",
                    "agent's first audio frame → caller hears it (WebRTC out)",
                ),
            ),
        )
    return rows


def _agent_overheads(
    turns: Sequence[TurnAnalysis], profile: ProviderProfile | None
) -> list[LatencyRow]:
    """Two parts of the agent leg: what the agent measured for a provider request beyond
    what provider-sim itself took (the rest is the framework, tools and CPU)."""
    if profile is None:
        return []

    def over(stage: str, simulated_seconds: float) -> tuple[float, ...]:
        return tuple(
            t.agent_stages_ms[stage] - simulated_seconds * 1000
            for t in turns
            if stage in t.agent_stages_ms
        )

    return [
        LatencyRow(
            "      LLM request",
            over("llm_ttft", profile.llm_ttft),
            "agent's LLM TTFT − provider-sim's: chat context, tool schemas, JSON, HTTP",
        ),
        LatencyRow(
            "      TTS request",
            over("tts_ttfb", profile.tts_ttfb),
            "agent's TTS TTFB − provider-sim's: websocket, first chunk",
        ),
    ]


def worker_metrics_summary(samples: Samples) -> dict[str, Any]:
    """The worker's /metrics growth during the call."""
    stages = {}
    for stage, hist in stage_histograms(samples).items():
        stages[stage] = {
            "count": round(hist.count),
            "mean_ms": _round(hist.mean * 1000 if hist.mean is not None else None),
            "p50_ms_from_buckets": _round(
                q * 1000 if (q := hist.quantile(0.5)) is not None else None
            ),
            "p95_ms_from_buckets": _round(
                q * 1000 if (q := hist.quantile(0.95)) is not None else None
            ),
        }
    outcomes = {
        k: round(v) for k, v in counts_by(samples, BOOKINGS_COUNTER, "outcome").items() if v
    }
    return {
        "receptionist_stage_latency_seconds": stages,
        "receptionist_tool_latency_seconds_count": tool_outcomes(samples),
        "tool_mean_ms": {
            tool: round(mean * 1000, 1) for tool, mean in tool_mean_seconds(samples).items()
        },
        "receptionist_bookings_total": outcomes,
    }


def build_report(
    *,
    scenario: CallScenario,
    providers: str,
    provider_latencies_ms: Mapping[str, float] | None,
    record: CallRecord,
    agent: AgentRecord,
    turns: Sequence[TurnAnalysis],
    rows: Sequence[LatencyRow],
    metrics_growth: Samples,
    bookings: Mapping[str, Sequence[Mapping[str, Any]]],
    callbacks: Mapping[str, Sequence[Mapping[str, Any]]],
    checks: Sequence[Check],
    budget_ms: float,
    wall_offset: float,
    sim_state: Mapping[str, Any] | None,
    call_record: Mapping[str, Any] | None = None,
    call_record_after_s: float | None = None,
) -> dict[str, Any]:
    start = record.connected_at + wall_offset

    def at(moment: float | None) -> float | None:
        return None if moment is None else round(moment - start, 2)

    transcript = [
        {
            "at_s": at(u.started_speaking_at or u.created_at),
            "speaker": u.speaker,
            "text": u.text,
            **({"interrupted": True} if u.interrupted else {}),
        }
        for u in agent.utterances
    ]
    e2e = [t.e2e_ms for t in turns if t.e2e_ms is not None]
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "clinic": scenario.clinic,
        "passed": all(check.passed for check in checks),
        "checks": [check.as_dict() for check in checks],
        "providers": providers,
        "provider_latencies_ms": dict(provider_latencies_ms or {}),
        "room": record.room_name,
        "room_sid": record.room_sid,
        "duration_s": round(record.ended_at - record.connected_at, 1),
        "ended_by": record.ended_by,
        "errors": list(record.errors),
        "greeting_latency_ms": _round(record.greeting_latency_ms),
        "transcript": transcript,
        "tool_calls": [
            {
                "at_s": at(call.at),
                "name": call.name,
                "arguments": call.arguments,
                "is_error": call.is_error,
                "output": call.output,
            }
            for call in agent.tool_calls
        ],
        "bookings": {phone: list(found) for phone, found in bookings.items()},
        "callbacks": {phone: list(found) for phone, found in callbacks.items()},
        "call_record": dict(call_record) if call_record is not None else None,
        # seconds from the hang-up until the worker's record could be read
        "call_record_after_s": call_record_after_s,
        "turns": [t.as_dict() for t in turns],
        "latency": {
            "budget_ms": budget_ms,
            "turns_over_budget": sum(1 for value in e2e if value > budget_ms),
            "rows": [row.as_dict() for row in rows],
        },
        "worker_metrics": worker_metrics_summary(metrics_growth),
        "provider_sim": None
        if sim_state is None
        else {"problems": sim_state.get("problems", []), "scenario": sim_state.get("scenario")},
        "agent_speech_spans_s": [
            [at_rel(a, record), at_rel(b, record)] for a, b in record.agent_speech
        ],
    }


def at_rel(moment: float, record: CallRecord) -> float:
    return round(moment - record.connected_at, 2)


def spoken_by_agent(agent: AgentRecord) -> str:
    return "\n".join(u.text for u in agent.said_by(AGENT))
