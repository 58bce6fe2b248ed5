"""Turns a call's session events into Prometheus observations and one log line per turn.

Sources (LiveKit Agents 1.8.9): per-turn latencies come from `ChatMessage.metrics` on
`conversation_item_added` — the caller's message carries `end_of_turn_delay` and
`transcription_delay`, the agent's reply carries `llm_node_ttft`, `tts_node_ttfb` and
`e2e_latency` (caller stopped speaking → agent audio started). A reply spoken by a tool
through `session.say` (the confirm tools' read-back) carries no `e2e_latency`; its
`end_to_end` is its `started_speaking_at` minus the caller's `stopped_speaking_at`, the
same anchors the framework uses. Usage comes from the
cumulative `session_usage_updated` totals, turned into counter increments. Provider
failures come from the session's `error` event. (`metrics_collected` is deprecated in 1.8
and would double-count the same stages, so it is not used.)
"""

from __future__ import annotations

import logging
from typing import Any

from livekit.agents import AgentSession, llm, stt, tts
from livekit.agents.llm import ChatMessage
from livekit.agents.metrics import LLMModelUsage, STTModelUsage, TTSModelUsage
from livekit.agents.voice.events import (
    ConversationItemAddedEvent,
    ErrorEvent,
    FunctionToolsExecutedEvent,
    SessionUsageUpdatedEvent,
)
from prometheus_client import Counter

from .logs import log_turn
from .metrics import ProviderLabels, ReceptionistMetrics

logger = logging.getLogger(__name__)

# ChatMessage.metrics key → our `stage` label
CALLER_STAGES = {"end_of_turn_delay": "end_of_utterance", "transcription_delay": "transcription"}
REPLY_STAGES = {
    "llm_node_ttft": "llm_ttft",
    "tts_node_ttfb": "tts_ttfb",
    "e2e_latency": "end_to_end",
}


class CallTelemetry:
    """One per call; `attach` it to the call's session."""

    def __init__(
        self, metrics: ReceptionistMetrics, *, providers: ProviderLabels, clinic_id: str
    ) -> None:
        self._metrics = metrics
        self._providers = providers
        self._clinic_id = clinic_id
        self._turn = 0
        self._pending_stages: dict[str, float] = {}
        self._caller_stopped_at: float | None = None
        self._pending_tools: list[str] = []
        self._usage_seen: dict[tuple[str, str, str], float] = {}
        # each answered turn's `end_to_end`, for the call record's latency figures
        self.end_to_end_seconds: list[float] = []

    def attach(self, session: AgentSession[Any]) -> None:
        session.on("conversation_item_added", self.on_conversation_item)
        session.on("function_tools_executed", self.on_tools_executed)
        session.on("session_usage_updated", self.on_usage)
        session.on("error", self.on_error)

    def on_conversation_item(self, event: ConversationItemAddedEvent) -> None:
        item = event.item
        if not isinstance(item, ChatMessage):
            return
        if item.role == "user":
            self._pending_stages = self._observe(item, CALLER_STAGES)
            stopped = item.metrics.get("stopped_speaking_at")
            self._caller_stopped_at = stopped if isinstance(stopped, int | float) else None
        elif item.role == "assistant":
            stages = {**self._pending_stages, **self._observe(item, REPLY_STAGES)}
            if "end_to_end" not in stages and (reply := self._reply_latency(item)) is not None:
                self._metrics.stage_latency.labels(stage="end_to_end").observe(reply)
                stages["end_to_end"] = reply
            if "end_to_end" in stages:
                self.end_to_end_seconds.append(stages["end_to_end"])
            self._caller_stopped_at = None  # only the turn's first reply answers the caller
            self._turn += 1
            log_turn(
                self._turn,
                {stage: seconds * 1000 for stage, seconds in stages.items()},
                clinic_id=self._clinic_id,
                tools=self._pending_tools,
            )
            self._pending_stages, self._pending_tools = {}, []

    def on_tools_executed(self, event: FunctionToolsExecutedEvent) -> None:
        self._pending_tools.extend(call.name for call in event.function_calls)

    def on_usage(self, event: SessionUsageUpdatedEvent) -> None:
        for usage in event.usage.model_usage:
            if isinstance(usage, LLMModelUsage):
                model = usage.model
                self._count(
                    ("llm", model, "prompt"), usage.input_tokens, self._llm(model, "prompt")
                )
                self._count(
                    ("llm", model, "completion"),
                    usage.output_tokens,
                    self._llm(model, "completion"),
                )
            elif isinstance(usage, TTSModelUsage):
                counter = self._metrics.tts_characters.labels(provider=self._providers.tts)
                self._count(("tts", usage.model, ""), usage.characters_count, counter)
            elif isinstance(usage, STTModelUsage):
                counter = self._metrics.stt_audio_seconds.labels(provider=self._providers.stt)
                self._count(("stt", usage.model, ""), usage.audio_duration, counter)

    def on_error(self, event: ErrorEvent) -> None:
        source = event.source
        if isinstance(source, stt.STT):
            stage = "stt"
        elif isinstance(source, llm.LLM):
            stage = "llm"
        elif isinstance(source, tts.TTS):
            stage = "tts"
        else:
            return
        provider = self._providers.for_stage(stage)
        self._metrics.provider_errors.labels(provider=provider, stage=stage).inc()
        logger.warning(
            "provider error",
            extra={
                "provider": provider,
                "stage": stage,
                "recoverable": bool(getattr(event.error, "recoverable", False)),
            },
        )

    def _observe(self, message: ChatMessage, stages: dict[str, str]) -> dict[str, float]:
        observed = {}
        report: dict[str, Any] = dict(message.metrics)
        for key, stage in stages.items():
            value = report.get(key)
            if isinstance(value, int | float) and value >= 0:
                self._metrics.stage_latency.labels(stage=stage).observe(value)
                observed[stage] = float(value)
        return observed

    def _reply_latency(self, reply: ChatMessage) -> float | None:
        started = reply.metrics.get("started_speaking_at")
        if self._caller_stopped_at is None or not isinstance(started, int | float):
            return None
        latency = float(started) - self._caller_stopped_at
        return latency if latency >= 0 else None

    def _llm(self, model: str, kind: str) -> Counter:
        return self._metrics.llm_tokens.labels(model=model, kind=kind)

    def _count(self, key: tuple[str, str, str], total: float, counter: Counter) -> None:
        """Add the growth of a cumulative session total to a counter."""
        delta = total - self._usage_seen.get(key, 0.0)
        if delta > 0:
            counter.inc(delta)
            self._usage_seen[key] = total
