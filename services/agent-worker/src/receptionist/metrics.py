"""Prometheus metrics of the receptionist (each listed in docs/metrics.md).

Calls run in job child processes, so every metric uses prometheus_client's multiprocess
mode: `PROMETHEUS_MULTIPROC_DIR` is set before anything imports prometheus_client (see
`main.run`), each process writes its own files, and the framework's `/metrics` server in the
worker process merges them, next to its own `lk_agents_*` worker metrics.

The metric objects are created lazily, once per process (`get_metrics()`), not at import:
the framework wipes the directory when the worker starts, and a value created before that
would keep writing into a deleted file and vanish from every scrape.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram, multiprocess

logger = logging.getLogger(__name__)

STAGES = ("end_of_utterance", "transcription", "llm_ttft", "tts_ttfb", "end_to_end")
STAGE_BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.5, 2, 3, 5, 10)
TOOL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1, 2, 3, 5, 10)
TOOL_OUTCOMES = ("ok", "error")
SESSION_OUTCOMES = ("started", "completed", "failed")
CHANNELS = ("web", "phone")
TRANSFER_OUTCOMES = ("transferred", "failed", "outside_hours", "no_front_desk", "not_on_phone")
BOOKING_OUTCOMES = (
    "created",
    "conflict",
    "refused_unconfirmed",
    "failed",
    "rescheduled",
    "cancelled",
    "already_done",
)
TOKEN_KINDS = ("prompt", "completion")
PIPELINE_STAGES = ("stt", "llm", "tts")


@dataclass(frozen=True)
class ProviderLabels:
    """The `provider` label value of each pipeline stage (one provider per stage)."""

    stt: str
    llm: str
    tts: str

    def for_stage(self, stage: str) -> str:
        return {"stt": self.stt, "llm": self.llm, "tts": self.tts}[stage]


class ReceptionistMetrics:
    def __init__(self) -> None:
        self.stage_latency = Histogram(
            "receptionist_stage_latency_seconds",
            "Latency of each stage of a conversational turn",
            ["stage"],
            buckets=STAGE_BUCKETS,
        )
        self.tool_latency = Histogram(
            "receptionist_tool_latency_seconds",
            "Time spent in each receptionist tool call",
            ["tool", "outcome"],
            buckets=TOOL_BUCKETS,
        )
        self.sessions = Counter(
            "receptionist_sessions_total", "Calls by outcome and channel", ["outcome", "channel"]
        )
        self.transfers = Counter(
            "receptionist_transfers_total",
            "Requests to reach a person by phone transfer, by outcome",
            ["outcome"],
        )
        self.active_sessions = Gauge(
            "receptionist_active_sessions",
            "Calls in progress on this worker",
            multiprocess_mode="livesum",
        )
        # written only by the worker's main process (its load function)
        self.capacity_used = Gauge(
            "receptionist_worker_capacity_used_ratio",
            "Share of this worker's capacity in use (calls over MAX_CALLS_PER_WORKER, or CPU "
            "over CPU_LOAD_LIMIT, whichever is higher); 1 = full, takes no new calls",
            multiprocess_mode="livemax",
        )
        self.capacity_calls = Gauge(
            "receptionist_worker_max_calls",
            "Calls this worker takes at most (MAX_CALLS_PER_WORKER)",
            multiprocess_mode="livemax",
        )
        self.bookings = Counter(
            "receptionist_bookings_total", "Appointment book changes by outcome", ["outcome"]
        )
        self.provider_errors = Counter(
            "receptionist_provider_errors_total",
            "Errors reported by the speech and language providers",
            ["provider", "stage"],
        )
        self.llm_tokens = Counter(
            "receptionist_llm_tokens_total", "LLM tokens used", ["model", "kind"]
        )
        self.tts_characters = Counter(
            "receptionist_tts_characters_total", "Characters synthesised", ["provider"]
        )
        self.stt_audio_seconds = Counter(
            "receptionist_stt_audio_seconds_total", "Audio transcribed, in seconds", ["provider"]
        )

    def preinitialise(
        self, *, tools: Iterable[str], providers: ProviderLabels, llm_model: str
    ) -> None:
        """Create every label combination known in advance, so each series exists (at
        zero) from the first scrape and dashboards never show "no data". (The unlabelled
        active-sessions gauge already exists from construction.)"""
        for stage in STAGES:
            self.stage_latency.labels(stage=stage)
        for tool in tools:
            for outcome in TOOL_OUTCOMES:
                self.tool_latency.labels(tool=tool, outcome=outcome)
        for outcome in SESSION_OUTCOMES:
            for channel in CHANNELS:
                self.sessions.labels(outcome=outcome, channel=channel)
        for outcome in TRANSFER_OUTCOMES:
            self.transfers.labels(outcome=outcome)
        for outcome in BOOKING_OUTCOMES:
            self.bookings.labels(outcome=outcome)
        for stage in PIPELINE_STAGES:
            self.provider_errors.labels(provider=providers.for_stage(stage), stage=stage)
        for kind in TOKEN_KINDS:
            self.llm_tokens.labels(model=llm_model, kind=kind)
        self.tts_characters.labels(provider=providers.tts)
        self.stt_audio_seconds.labels(provider=providers.stt)


@lru_cache(maxsize=1)
def get_metrics() -> ReceptionistMetrics:
    """This process's metric objects, created on first use (see the module docstring)."""
    return ReceptionistMetrics()


_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w*_(\d+)\.db$")


def reap_dead_processes(directory: str) -> list[int]:
    """Drop the live-gauge files of job processes that died without cleaning up (a crash
    or an OOM kill), so `receptionist_active_sessions` never counts a call that is gone."""
    reaped = []
    for path in Path(directory).glob("gauge_live*_*.db"):
        match = _LIVE_GAUGE_FILE.match(path.name)
        if match is None:
            continue
        pid = int(match.group(1))
        if _process_exists(pid):
            continue
        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
        reaped.append(pid)
    return reaped


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
