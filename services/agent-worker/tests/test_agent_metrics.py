"""Metrics observed in a job process reach the multiprocess registry under the fixed names."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from livekit.agents.llm import ChatMessage
from livekit.agents.voice.events import ConversationItemAddedEvent
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from receptionist.metrics import ReceptionistMetrics, get_metrics, reap_dead_processes
from receptionist.pipeline import PROVIDERS
from receptionist.telemetry import CallTelemetry

# One simulated call turn, observed the way a job process observes it.
CHILD = textwrap.dedent(
    """
    import os, sys
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
    from livekit.agents.llm import ChatMessage
    from livekit.agents.metrics import (
        AgentSessionUsage, LLMModelUsage, STTModelUsage, TTSModelUsage,
    )
    from livekit.agents.voice.events import ConversationItemAddedEvent, SessionUsageUpdatedEvent
    from receptionist.metrics import get_metrics
    from receptionist.pipeline import PROVIDERS
    from receptionist.telemetry import CallTelemetry

    metrics = get_metrics()
    metrics.preinitialise(
        tools=["check_availability"], providers=PROVIDERS, llm_model="gpt-4o-mini"
    )
    metrics.sessions.labels(outcome="started").inc()
    metrics.active_sessions.inc()
    telemetry = CallTelemetry(metrics, providers=PROVIDERS, clinic_id="bright-smile")
    caller = ChatMessage(role="user", content=["hi"],
                         metrics={"end_of_turn_delay": 0.21, "transcription_delay": 0.12})
    reply = ChatMessage(role="assistant", content=["hello"],
                        metrics={"llm_node_ttft": 0.35, "tts_node_ttfb": 0.18, "e2e_latency": 0.9})
    telemetry.on_conversation_item(ConversationItemAddedEvent(item=caller))
    telemetry.on_conversation_item(ConversationItemAddedEvent(item=reply))
    for llm_tokens in (100, 120):  # cumulative session totals: counted as growth
        telemetry.on_usage(SessionUsageUpdatedEvent(usage=AgentSessionUsage(model_usage=[
            LLMModelUsage(provider="api.openai.com", model="gpt-4o-mini",
                          input_tokens=llm_tokens, output_tokens=30),
            TTSModelUsage(provider="Cartesia", model="sonic-3", characters_count=42),
            STTModelUsage(provider="Deepgram", model="nova-3", audio_duration=2.5),
        ])))
    metrics.tool_latency.labels(tool="check_availability", outcome="ok").observe(0.07)
    metrics.bookings.labels(outcome="created").inc()
    """
)


def collect(directory: Path) -> CollectorRegistry:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return registry


def test_one_turn_in_a_child_process_reaches_the_registry(tmp_path: Path) -> None:
    env = {**os.environ}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], check=True, env=env, timeout=60)
    registry = collect(tmp_path)
    value = registry.get_sample_value

    for stage, seconds in [
        ("end_of_utterance", 0.21),
        ("transcription", 0.12),
        ("llm_ttft", 0.35),
        ("tts_ttfb", 0.18),
        ("end_to_end", 0.9),
    ]:
        assert value("receptionist_stage_latency_seconds_count", {"stage": stage}) == 1
        assert value("receptionist_stage_latency_seconds_sum", {"stage": stage}) == seconds
    assert (
        value("receptionist_stage_latency_seconds_bucket", {"stage": "end_to_end", "le": "0.8"})
        == 0
    )
    assert (
        value("receptionist_stage_latency_seconds_bucket", {"stage": "end_to_end", "le": "1.0"})
        == 1
    )
    labels = {"model": "gpt-4o-mini", "kind": "prompt"}
    assert value("receptionist_llm_tokens_total", labels) == 120
    assert value("receptionist_llm_tokens_total", {**labels, "kind": "completion"}) == 30
    assert value("receptionist_tts_characters_total", {"provider": "cartesia"}) == 42
    assert value("receptionist_stt_audio_seconds_total", {"provider": "deepgram"}) == 2.5
    tool = {"tool": "check_availability", "outcome": "ok"}
    assert value("receptionist_tool_latency_seconds_count", tool) == 1
    assert value("receptionist_bookings_total", {"outcome": "created"}) == 1
    assert value("receptionist_sessions_total", {"outcome": "started"}) == 1
    assert value("receptionist_active_sessions") == 1
    # pre-initialised series exist at zero
    assert value("receptionist_bookings_total", {"outcome": "conflict"}) == 0
    assert (
        value("receptionist_provider_errors_total", {"provider": "cartesia", "stage": "tts"}) == 0
    )

    # the child has exited: its live gauge is dropped, its counters stay
    assert reap_dead_processes(str(tmp_path))
    registry = collect(tmp_path)
    assert registry.get_sample_value("receptionist_active_sessions") is None
    assert registry.get_sample_value("receptionist_sessions_total", {"outcome": "started"}) == 1


def test_each_turn_is_logged_once_with_its_latencies(caplog) -> None:
    telemetry = CallTelemetry(get_metrics(), providers=PROVIDERS, clinic_id="bright-smile")
    caplog.set_level(logging.INFO, logger="receptionist.turns")
    caller = ChatMessage(
        role="user", content=["my number is 512 555 0187"], metrics={"end_of_turn_delay": 0.2}
    )
    reply = ChatMessage(role="assistant", content=["Thanks!"], metrics={"e2e_latency": 0.75})
    telemetry.on_conversation_item(ConversationItemAddedEvent(item=caller))
    telemetry.on_conversation_item(ConversationItemAddedEvent(item=reply))
    turns = [r for r in caplog.records if r.name == "receptionist.turns"]
    assert len(turns) == 1
    assert turns[0].latency_ms == {"end_of_utterance": 200.0, "end_to_end": 750.0}
    assert "512" not in caplog.text
    assert telemetry.end_to_end_seconds == [0.75]


def test_metric_objects_are_created_once_per_process() -> None:
    assert get_metrics() is get_metrics()
    assert isinstance(get_metrics(), ReceptionistMetrics)


def test_a_reply_spoken_by_a_tool_still_counts_end_to_end(caplog) -> None:
    """The confirm tools speak with session.say: the framework attaches no e2e_latency."""
    telemetry = CallTelemetry(get_metrics(), providers=PROVIDERS, clinic_id="bright-smile")
    end_to_end = get_metrics().stage_latency.labels(stage="end_to_end")
    before = _histogram_count(end_to_end)
    caplog.set_level(logging.INFO, logger="receptionist.turns")
    caller = ChatMessage(role="user", content=["yes"], metrics={"stopped_speaking_at": 100.0})
    read_back = ChatMessage(
        role="assistant", content=["Let me read that back."], metrics={"started_speaking_at": 100.8}
    )
    second = ChatMessage(
        role="assistant", content=["Anything else?"], metrics={"started_speaking_at": 104.0}
    )
    for item in (caller, read_back, second):
        telemetry.on_conversation_item(ConversationItemAddedEvent(item=item))
    assert _histogram_count(end_to_end) == before + 1  # the second message answers nobody
    turns = [r for r in caplog.records if r.name == "receptionist.turns"]
    assert turns[0].latency_ms["end_to_end"] == pytest.approx(800.0)
    assert "end_to_end" not in turns[1].latency_ms
    # the call record's latency figures: one answered turn, the same measurement
    assert telemetry.end_to_end_seconds == [pytest.approx(0.8)]


def _histogram_count(child: Any) -> float:
    return next(
        sample.value
        for metric in child.collect()
        for sample in metric.samples
        if sample.name.endswith("_count")
    )
