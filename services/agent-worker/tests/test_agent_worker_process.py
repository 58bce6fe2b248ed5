"""The real `agent-worker start` process: health server, /worker, and one /metrics
endpoint that merges the job processes' series with the framework's worker metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from call_sim.stack import free_port
from receptionist.worker import clinic_id_from_metadata


@pytest.mark.slow
def test_worker_serves_health_and_merged_metrics(services, tmp_path: Path) -> None:
    health_port, metrics_port = free_port(), free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale file from a previous run")
    worker = services.start(
        ["agent-worker", "start"],
        name="agent-worker",
        port=health_port,
        ready_path="/",
        env={
            "HEALTH_PORT": str(health_port),
            "PROMETHEUS_PORT": str(metrics_port),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "NUM_IDLE_PROCESSES": "1",
            # nothing listens there: the worker keeps retrying, which is all this test needs
            "LIVEKIT_URL": f"ws://127.0.0.1:{free_port()}",
            "LIVEKIT_API_KEY": "devkey",
            "LIVEKIT_API_SECRET": "a-test-secret-of-at-least-32-characters",
            "AGENT_NAME": "test-receptionist",
            "DEEPGRAM_API_KEY": "unused",
            "OPENAI_API_KEY": "unused",
            "CARTESIA_API_KEY": "unused",
        },
    )
    info = httpx.get(f"{worker.base_url}/worker", timeout=2).json()
    assert info["agent_name"] == "test-receptionist"

    expected = [
        'receptionist_stage_latency_seconds_bucket{le="0.8",stage="end_to_end"} 0.0',
        'receptionist_tool_latency_seconds_count{outcome="error",tool="book_appointment"} 0.0',
        'receptionist_sessions_total{channel="phone",outcome="failed"} 0.0',
        'receptionist_transfers_total{outcome="failed"} 0.0',
        'receptionist_bookings_total{outcome="refused_unconfirmed"} 0.0',
        "receptionist_active_sessions 0.0",
        "receptionist_worker_max_calls 4.0",
        "receptionist_worker_capacity_used_ratio",
        "lk_agents_worker_load",
        "lk_agents_active_job_count",
        "lk_agents_child_process_count",
    ]
    deadline = time.monotonic() + 30
    body, pids = "", set()
    while time.monotonic() < deadline:
        body = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).text
        pids = {p.stem.rsplit("_", 1)[1] for p in metrics_dir.glob("histogram_*.db")}
        if len(pids) >= 2 and all(series in body for series in expected):
            break
        time.sleep(0.3)
    # the worker process and its idle job process each wrote their own series
    assert len(pids) >= 2, f"no job process wrote metrics: {sorted(metrics_dir.iterdir())}"
    assert not (metrics_dir / "counter_999999.db").exists()  # wiped at start
    for series in expected:
        assert series in body, series
    worker.stop()
    assert worker.process.returncode == 0  # SIGTERM drains (no calls here) and exits cleanly
    # every line, the framework's start-up lines included, in docs/conventions.md's shape
    lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    assert any(line["message"] == "draining worker" for line in lines)
    for line in lines:
        assert list(line)[:5] == ["ts", "level", "service", "logger", "message"], line
        assert line["service"] == "agent-worker"


def test_worker_refuses_to_start_without_provider_keys(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    agent_worker = Path(sys.executable).parent / "agent-worker"
    done = subprocess.run(
        [str(agent_worker), "start"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "DEEPGRAM_API_KEY, OPENAI_API_KEY, CARTESIA_API_KEY" in done.stderr


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ('{"clinic_id": "sunny-teeth"}', "sunny-teeth"),
        ("", "bright-smile"),
        ("not json", "bright-smile"),
        ('{"clinic_id": "../../admin"}', "bright-smile"),
        ('["sunny-teeth"]', "bright-smile"),
    ],
)
def test_clinic_id_from_dispatch_metadata(metadata: str, expected: str) -> None:
    assert clinic_id_from_metadata(metadata, "bright-smile") == expected
