"""Reading the worker's Prometheus `/metrics` text and diffing two scrapes. Pure.

Scrape before and after a call (or a benchmark level), subtract, and what is left is what
that call added: histogram counts and sums per stage, tool calls by outcome, bookings by
outcome. Quantiles from histogram buckets follow Prometheus' `histogram_quantile` (linear
inside the bucket), so they are estimates as coarse as the buckets.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

STAGE_HISTOGRAM = "receptionist_stage_latency_seconds"
TOOL_HISTOGRAM = "receptionist_tool_latency_seconds"
BOOKINGS_COUNTER = "receptionist_bookings_total"
STAGES = ("end_of_utterance", "transcription", "llm_ttft", "tts_ttfb", "end_to_end")

Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> Samples:
    samples: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line.strip())
        if match is None:
            continue
        name, raw_labels, raw_value = match.groups()
        labels = tuple(
            sorted(
                (key, value.replace('\\"', '"').replace("\\\\", "\\"))
                for key, value in _LABEL.findall(raw_labels or "")
            )
        )
        try:
            samples[(name, labels)] = float(raw_value)
        except ValueError:
            continue
    return samples


def diff(before: Samples, after: Samples) -> Samples:
    """What grew between two scrapes (series new in `after` count from zero)."""
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def _matches(labels: Labels, wanted: Mapping[str, str]) -> bool:
    present = dict(labels)
    return all(present.get(key) == value for key, value in wanted.items())


@dataclass(frozen=True)
class Histogram:
    count: float
    total: float  # seconds
    buckets: tuple[tuple[float, float], ...]  # (upper bound, cumulative count), sorted

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count > 0 else None

    def quantile(self, q: float) -> float | None:
        """Prometheus' histogram_quantile: linear interpolation inside the bucket."""
        if self.count <= 0 or not self.buckets:
            return None
        rank = q * self.count
        lower_bound, lower_count = 0.0, 0.0
        for bound, cumulative in self.buckets:
            if cumulative >= rank:
                if math.isinf(bound):
                    return lower_bound
                in_bucket = cumulative - lower_count
                if in_bucket <= 0:
                    return bound
                return lower_bound + (bound - lower_bound) * (rank - lower_count) / in_bucket
            lower_bound, lower_count = bound, cumulative
        return lower_bound


def histogram(samples: Samples, name: str, wanted: Mapping[str, str]) -> Histogram:
    """One histogram series (summed over any labels not in `wanted`)."""
    count = total = 0.0
    buckets: dict[float, float] = {}
    for (sample_name, labels), value in samples.items():
        if not _matches(labels, wanted):
            continue
        if sample_name == f"{name}_count":
            count += value
        elif sample_name == f"{name}_sum":
            total += value
        elif sample_name == f"{name}_bucket":
            bound = dict(labels).get("le", "+Inf")
            upper = math.inf if bound in ("+Inf", "Inf") else float(bound)
            buckets[upper] = buckets.get(upper, 0.0) + value
    return Histogram(count, total, tuple(sorted(buckets.items())))


def counts_by(samples: Samples, name: str, label: str) -> dict[str, float]:
    """A counter (or a histogram's `_count`) summed by one label."""
    totals: dict[str, float] = {}
    for (sample_name, labels), value in samples.items():
        if sample_name != name:
            continue
        key = dict(labels).get(label, "")
        totals[key] = totals.get(key, 0.0) + value
    return totals


def tool_outcomes(samples: Samples) -> dict[str, dict[str, int]]:
    """Tool executions by tool and outcome (`ok` / `error`), from the latency histogram."""
    result: dict[str, dict[str, int]] = {}
    for (sample_name, labels), value in samples.items():
        if sample_name != f"{TOOL_HISTOGRAM}_count" or value <= 0:
            continue
        present = dict(labels)
        per_tool = result.setdefault(present.get("tool", "?"), {})
        outcome = present.get("outcome", "?")
        per_tool[outcome] = per_tool.get(outcome, 0) + round(value)
    return result


def stage_histograms(samples: Samples) -> dict[str, Histogram]:
    return {stage: histogram(samples, STAGE_HISTOGRAM, {"stage": stage}) for stage in STAGES}


def tool_mean_seconds(samples: Samples) -> dict[str, float]:
    """Mean time per execution of each tool, from the latency histogram's sum and count."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for (sample_name, labels), value in samples.items():
        tool = dict(labels).get("tool", "?")
        if sample_name == f"{TOOL_HISTOGRAM}_sum":
            sums[tool] = sums.get(tool, 0.0) + value
        elif sample_name == f"{TOOL_HISTOGRAM}_count":
            counts[tool] = counts.get(tool, 0.0) + value
    return {tool: sums.get(tool, 0.0) / count for tool, count in counts.items() if count > 0}
