"""`make bench-calls` end to end at its smallest: one level of one call through the real
stack, and the figures the README quotes come out of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CALL_SIM = Path(sys.executable).parent / "call-sim"


def test_one_level_reports_latency_legs_cpu_and_memory(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    finished = subprocess.run(
        [
            str(CALL_SIM),
            "bench",
            "--levels",
            "1",
            "--job-executor",
            "thread",
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "CALL_SIM_WORKDIR": str(tmp_path / "stack")},
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    assert "JOB_EXECUTOR=thread" in finished.stdout
    summary = json.loads(report.read_text())
    assert summary["job_executor"] == "thread"
    [level] = summary["levels"]
    assert level["calls"] == 1
    assert level["failed"] == 0
    assert level["callers_without_receptionist"] == 0
    assert level["turns"] == 3
    for figure in (
        "added_p50_ms",
        "caller_to_stt_p50_ms",
        "agent_p50_ms",
        "agent_to_caller_p50_ms",
    ):
        assert level[figure] is not None, figure
    assert 0 < level["worker_cores_per_call"] < 2
    assert level["worker_pss_mb_per_call"] >= 0
    assert summary["conclusions"]["targets"] == {
        "calls_per_core": 15,
        "p95_added_ms": 50.0,
        "mb_per_call": 60.0,
    }
