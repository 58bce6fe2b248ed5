"""Reading and diffing the worker's Prometheus text."""

from __future__ import annotations

import pytest
from call_sim.worker_metrics import (
    BOOKINGS_COUNTER,
    STAGE_HISTOGRAM,
    counts_by,
    diff,
    histogram,
    parse,
    stage_histograms,
    tool_mean_seconds,
    tool_outcomes,
)

BEFORE = """\
# HELP receptionist_stage_latency_seconds Stage latency
# TYPE receptionist_stage_latency_seconds histogram
receptionist_stage_latency_seconds_bucket{le="0.1",stage="end_to_end"} 0.0
receptionist_stage_latency_seconds_bucket{le="0.5",stage="end_to_end"} 1.0
receptionist_stage_latency_seconds_bucket{le="1.0",stage="end_to_end"} 1.0
receptionist_stage_latency_seconds_bucket{le="+Inf",stage="end_to_end"} 1.0
receptionist_stage_latency_seconds_count{stage="end_to_end"} 1.0
receptionist_stage_latency_seconds_sum{stage="end_to_end"} 0.3
receptionist_bookings_total{outcome="created"} 2.0
receptionist_tool_latency_seconds_count{outcome="ok",tool="book_appointment"} 1.0
"""

AFTER = """\
receptionist_stage_latency_seconds_bucket{le="0.1",stage="end_to_end"} 0.0
receptionist_stage_latency_seconds_bucket{le="0.5",stage="end_to_end"} 1.0
receptionist_stage_latency_seconds_bucket{le="1.0",stage="end_to_end"} 5.0
receptionist_stage_latency_seconds_bucket{le="+Inf",stage="end_to_end"} 5.0
receptionist_stage_latency_seconds_count{stage="end_to_end"} 5.0
receptionist_stage_latency_seconds_sum{stage="end_to_end"} 3.1
receptionist_bookings_total{outcome="created"} 3.0
receptionist_bookings_total{outcome="conflict"} 1.0
receptionist_tool_latency_seconds_count{outcome="ok",tool="book_appointment"} 2.0
receptionist_tool_latency_seconds_count{outcome="error",tool="book_appointment"} 1.0
lk_agents_worker_load{nodename="vm",pid="1"} 0.25
weird_label{path="a \\"quoted\\" value"} 1
"""


def test_parse_reads_names_labels_and_values() -> None:
    samples = parse(AFTER)
    assert samples[("lk_agents_worker_load", (("nodename", "vm"), ("pid", "1")))] == 0.25
    assert samples[("weird_label", (("path", 'a "quoted" value'),))] == 1.0


def test_diff_is_what_one_call_added() -> None:
    grown = diff(parse(BEFORE), parse(AFTER))
    e2e = histogram(grown, STAGE_HISTOGRAM, {"stage": "end_to_end"})
    assert e2e.count == 4
    assert e2e.total == pytest.approx(2.8)
    assert e2e.mean == pytest.approx(0.7)
    # all four new observations fell in (0.5, 1.0]: the median is interpolated inside it
    assert e2e.quantile(0.5) == pytest.approx(0.75)
    assert counts_by(grown, BOOKINGS_COUNTER, "outcome") == {"created": 1.0, "conflict": 1.0}
    assert tool_outcomes(grown) == {"book_appointment": {"ok": 1, "error": 1}}


def test_an_empty_histogram_has_no_quantile() -> None:
    stages = stage_histograms(parse(""))
    assert stages["llm_ttft"].count == 0
    assert stages["llm_ttft"].quantile(0.95) is None
    assert stages["llm_ttft"].mean is None


def test_tool_time_is_the_mean_over_outcomes() -> None:
    samples = parse(
        'receptionist_tool_latency_seconds_count{outcome="ok",tool="book_appointment"} 3.0\n'
        'receptionist_tool_latency_seconds_sum{outcome="ok",tool="book_appointment"} 0.12\n'
        'receptionist_tool_latency_seconds_count{outcome="error",tool="book_appointment"} 1.0\n'
        'receptionist_tool_latency_seconds_sum{outcome="error",tool="book_appointment"} 0.04\n'
        'receptionist_tool_latency_seconds_count{outcome="ok",tool="end_call"} 0.0\n'
    )
    assert tool_mean_seconds(samples) == {"book_appointment": pytest.approx(0.04)}
